/* The test certificate: what a client that trusts only it can verify. */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <time.h>
#include "check.h"
#include "luatest.h"
#include "tls.h"

static X509 *read_cert(const char *pem) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  BIO_free(bio);
  return cert;
}

static EVP_PKEY *read_key(const char *pem) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
  BIO_free(bio);
  return key;
}

/* Verifies cert as a TLS server certificate for host (a name, or an IP
 * address when ip), with cert itself as the only trust anchor. */
static int verifies_for(X509 *cert, const char *host, int ip) {
  X509_STORE *store = X509_STORE_new();
  X509_STORE_add_cert(store, cert);
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, cert, NULL);
  X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  if (ip)
    X509_VERIFY_PARAM_set1_ip_asc(param, host);
  else
    X509_VERIFY_PARAM_set1_host(param, host, 0);
  int ok = X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(void) {
  char *cert_pem, *key_pem;
  double t0 = now_ms();
  CHECK(lt_tls_make_cert(&cert_pem, &key_pem) == 0);
  double made = now_ms() - t0;
  printf("certificate made in %.2f ms\n", made);
  CHECK(made < 50);
  CHECK(!strncmp(cert_pem, "-----BEGIN CERTIFICATE-----", 27));
  CHECK(!strncmp(key_pem, "-----BEGIN PRIVATE KEY-----", 27));
  X509 *cert = read_cert(cert_pem);
  EVP_PKEY *key = read_key(key_pem);
  CHECK(cert && key);
  CHECK(X509_check_private_key(cert, key) == 1);
  CHECK(EVP_PKEY_get_base_id(key) == EVP_PKEY_EC && EVP_PKEY_get_bits(key) == 256);
  CHECK(verifies_for(cert, "localhost", 0));
  CHECK(verifies_for(cert, "127.0.0.1", 1));
  CHECK(verifies_for(cert, "::1", 1));
  CHECK(!verifies_for(cert, "example.com", 0));
  CHECK(!verifies_for(cert, "127.0.0.2", 1));
  /* Valid now, and for a good while. */
  CHECK(X509_cmp_current_time(X509_get0_notBefore(cert)) < 0);
  CHECK(X509_cmp_time(X509_get0_notAfter(cert), NULL) > 0);

  /* Another one has another key and serial. */
  char *cert2, *key2;
  CHECK(lt_tls_make_cert(&cert2, &key2) == 0);
  X509 *other = read_cert(cert2);
  CHECK(other && ASN1_INTEGER_cmp(X509_get_serialNumber(cert), X509_get_serialNumber(other)));
  CHECK(strcmp(key_pem, key2) != 0);
  /* The process's test certificate is made once. */
  const char *c1, *k1, *c2, *k2;
  CHECK(lt_tls_test_cert(&c1, &k1) == 0 && lt_tls_test_cert(&c2, &k2) == 0);
  CHECK(c1 == c2 && k1 == k2 && strstr(c1, "BEGIN CERTIFICATE"));
  CHECK(!strcmp(lt_errname(LT_ETLS), "ETLS"));

  X509_free(other);
  X509_free(cert);
  EVP_PKEY_free(key);
  free(cert_pem);
  free(key_pem);
  free(cert2);
  free(key2);
  return check_done("tls");
}
