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

/* Carries what each side has for the other until neither has anything;
 * the plaintext each receives is appended to its buffer. Returns the first
 * error either side had (0 when none). */
static int pump(lt_tls *client, lt_buf *c_out, lt_buf *c_plain, lt_tls *server, lt_buf *s_out,
                lt_buf *s_plain) {
  int rc = 0;
  for (int round = 0; round < 50 && (c_out->len || s_out->len); round++) {
    lt_buf to_server = *c_out, to_client = *s_out;
    *c_out = (lt_buf){0};
    *s_out = (lt_buf){0};
    /* Fed one byte at a time on odd rounds: records split anywhere. */
    for (size_t i = 0; !rc && i < to_server.len; i += round % 2 ? 1 : to_server.len)
      rc = lt_tls_feed(server, to_server.data + i, round % 2 ? 1 : to_server.len, s_plain, s_out);
    int rc2 = 0;
    if (to_client.len)
      rc2 = lt_tls_feed(client, to_client.data, to_client.len, c_plain, c_out);
    lt_buf_free(&to_server);
    lt_buf_free(&to_client);
    if (!rc)
      rc = rc2;
    if (rc && !c_out->len && !s_out->len)
      break;
  }
  return rc;
}

/* A handshake and an exchange between a client trusting ca for host and
 * a server with cert and key; 0, or the client's LT_ETLS. */
static int exchange(const char *ca, const char *host, const char *cert, const char *key, char *why,
                    size_t whylen) {
  char err[200];
  lt_tls_ctx *sctx = lt_tls_server_ctx(cert, key, err, sizeof err);
  lt_tls_ctx *cctx = lt_tls_client_ctx(ca, 1, err, sizeof err);
  CHECK(sctx && cctx);
  lt_tls *server = lt_tls_new(sctx, NULL), *client = lt_tls_new(cctx, host);
  lt_buf c_out = {0}, s_out = {0}, c_plain = {0}, s_plain = {0};
  /* Written before the handshake: it waits for it. */
  CHECK(lt_tls_write(client, "GET / HTTP/1.1\r\n\r\n", 18, &c_out) == 0 && c_out.len == 0);
  CHECK(lt_tls_start(client, &c_out) == 0 && c_out.len > 0);
  int rc = pump(client, &c_out, &c_plain, server, &s_out, &s_plain);
  if (!rc) {
    CHECK(lt_tls_established(client) && lt_tls_established(server));
    CHECK(s_plain.len == 18 && !memcmp(s_plain.data, "GET / HTTP/1.1\r\n\r\n", 18));
    static char big[100000];
    memset(big, 'x', sizeof big);
    CHECK(lt_tls_write(server, big, sizeof big, &s_out) == 0);
    CHECK(lt_tls_shutdown(server, &s_out) == 0);
    CHECK(pump(client, &c_out, &c_plain, server, &s_out, &s_plain) == 0);
    CHECK(c_plain.len == sizeof big && lt_tls_peer_closed(client));
  } else {
    snprintf(why, whylen, "%s", lt_tls_error(client));
  }
  lt_buf_free(&c_out);
  lt_buf_free(&s_out);
  lt_buf_free(&c_plain);
  lt_buf_free(&s_plain);
  lt_tls_free(client);
  lt_tls_free(server);
  lt_tls_ctx_free(cctx);
  lt_tls_ctx_free(sctx);
  return rc;
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

  /* Connections: trusted for its names, refused for others, or by a client
   * that trusts another certificate. */
  char why[200] = "";
  CHECK(exchange(cert_pem, "localhost", cert_pem, key_pem, why, sizeof why) == 0);
  CHECK(exchange(cert_pem, "127.0.0.1", cert_pem, key_pem, why, sizeof why) == 0);
  CHECK(exchange(cert_pem, "example.com", cert_pem, key_pem, why, sizeof why) == LT_ETLS);
  CHECK(strstr(why, "certificate verify failed") != NULL);
  printf("wrong host: %s\n", why);
  CHECK(exchange(cert2, "localhost", cert_pem, key_pem, why, sizeof why) == LT_ETLS);
  CHECK(strstr(why, "certificate verify failed") != NULL);
  printf("untrusted: %s\n", why);
  char err[200];
  CHECK(lt_tls_server_ctx(cert_pem, key2, err, sizeof err) == NULL &&
        strstr(err, "does not match"));
  CHECK(lt_tls_server_ctx("junk", key_pem, err, sizeof err) == NULL && strstr(err, "certificate"));
  CHECK(lt_tls_client_ctx("junk", 1, err, sizeof err) == NULL && strstr(err, "no certificate"));

  X509_free(other);
  X509_free(cert);
  EVP_PKEY_free(key);
  free(cert_pem);
  free(key_pem);
  free(cert2);
  free(key2);
  return check_done("tls");
}
