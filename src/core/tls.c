/* TLS for test servers and clients. The test certificate follows Go's
 * httptest one: self-signed, its own CA, for the loopback names, so a
 * client that trusts it needs nothing else. */
#include "tls.h"
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include "luatest.h"

/* The PEM text in bio as a malloc'd string. */
static char *bio_string(BIO *bio) {
  char *data;
  long n = BIO_get_mem_data(bio, &data);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s) {
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
  }
  return s;
}

static int add_ext(X509 *cert, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!ext)
    return 0;
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok;
}

/* A self-signed certificate for key: valid from an hour ago (clocks of a
 * test peer may lag) for a year, with a random serial. */
static X509 *self_signed(EVP_PKEY *key) {
  X509 *cert = X509_new();
  unsigned char serial[16];
  if (!cert || RAND_bytes(serial, sizeof serial) != 1) {
    X509_free(cert);
    return NULL;
  }
  serial[0] &= 0x7f; /* a positive serial */
  BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
  int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  X509_NAME *name = X509_get_subject_name(cert);
  ok = ok && X509_set_version(cert, 2) && X509_gmtime_adj(X509_getm_notBefore(cert), -3600) &&
       X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600) && X509_set_pubkey(cert, key) &&
       X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"luatest", -1, -1,
                                  0) &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                  (const unsigned char *)"luatest test server", -1, -1, 0) &&
       X509_set_issuer_name(cert, name) &&
       add_ext(cert, NID_basic_constraints, "critical,CA:TRUE") &&
       add_ext(cert, NID_key_usage, "critical,digitalSignature,keyCertSign") &&
       add_ext(cert, NID_ext_key_usage, "serverAuth") &&
       add_ext(cert, NID_subject_key_identifier, "hash") &&
       add_ext(cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") &&
       X509_sign(cert, key, EVP_sha256()) > 0;
  if (ok)
    return cert;
  X509_free(cert);
  return NULL;
}

int lt_tls_make_cert(char **cert_pem, char **key_pem) {
  *cert_pem = *key_pem = NULL;
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *cert = key ? self_signed(key) : NULL;
  BIO *cbio = BIO_new(BIO_s_mem()), *kbio = BIO_new(BIO_s_mem());
  int r = LT_ETLS;
  if (cert && cbio && kbio && PEM_write_bio_X509(cbio, cert) &&
      PEM_write_bio_PrivateKey(kbio, key, NULL, NULL, 0, NULL, NULL)) {
    *cert_pem = bio_string(cbio);
    *key_pem = bio_string(kbio);
    r = *cert_pem && *key_pem ? 0 : LT_ENOMEM;
    if (r) {
      free(*cert_pem);
      free(*key_pem);
      *cert_pem = *key_pem = NULL;
    }
  }
  BIO_free(cbio);
  BIO_free(kbio);
  X509_free(cert);
  EVP_PKEY_free(key);
  return r;
}

static char *test_cert, *test_key;

static void free_test_cert(void) {
  free(test_cert);
  free(test_key);
  test_cert = test_key = NULL;
}

int lt_tls_test_cert(const char **cert_pem, const char **key_pem) {
  if (!test_cert) {
    int r = lt_tls_make_cert(&test_cert, &test_key);
    if (r)
      return r;
    atexit(free_test_cert); /* (kept for the process; freed for leak checkers) */
  }
  *cert_pem = test_cert;
  *key_pem = test_key;
  return 0;
}
