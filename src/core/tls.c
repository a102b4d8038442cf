/* TLS for test servers and clients. The test certificate follows Go's
 * httptest one: self-signed, its own CA, for the loopback names, so a
 * client that trusts it needs nothing else. */
#include "tls.h"
#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
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

int lt_tls_spki_sha256(const char *cert_pem, char *out, size_t outlen) {
  BIO *bio = BIO_new_mem_buf(cert_pem, -1);
  X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
  BIO_free(bio);
  unsigned char *der = NULL;
  int n = cert ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der) : -1;
  X509_free(cert);
  unsigned char digest[32];
  int ok = n > 0 && outlen >= 45 && EVP_Digest(der, (size_t)n, digest, NULL, EVP_sha256(), NULL);
  OPENSSL_free(der);
  if (!ok)
    return LT_ETLS;
  EVP_EncodeBlock((unsigned char *)out, digest, sizeof digest);
  return 0;
}

/* ---- connections over memory BIOs ------------------------------------------------- */

struct lt_tls_ctx {
  SSL_CTX *ssl;
  int client;
  int verify;
};

struct lt_tls {
  SSL *ssl;
  BIO *in, *out;  /* ciphertext from the peer, and for it */
  lt_buf pending; /* plaintext written before the handshake ended */
  int established, peer_closed, failed;
  char error[200];
};

static void ssl_error(char *err, size_t n, const char *what) {
  unsigned long e = ERR_get_error();
  char reason[160] = "unknown error";
  if (e)
    ERR_error_string_n(e, reason, sizeof reason);
  snprintf(err, n, "%s: %s", what, reason);
  ERR_clear_error();
}

static lt_tls_ctx *ctx_new(int client, char *err, size_t errlen) {
  lt_tls_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  ctx->client = client;
  ctx->ssl = SSL_CTX_new(client ? TLS_client_method() : TLS_server_method());
  if (!ctx->ssl || !SSL_CTX_set_min_proto_version(ctx->ssl, TLS1_2_VERSION)) {
    ssl_error(err, errlen, "SSL_CTX_new");
    lt_tls_ctx_free(ctx);
    return NULL;
  }
  return ctx;
}

lt_tls_ctx *lt_tls_server_ctx(const char *cert_pem, const char *key_pem, char *err, size_t errlen) {
  lt_tls_ctx *ctx = ctx_new(0, err, errlen);
  if (!ctx)
    return NULL;
  BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
  X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
  EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
  int ok = 0;
  if (!cert)
    ssl_error(err, errlen, "certificate");
  else if (!key)
    ssl_error(err, errlen, "key");
  else if (SSL_CTX_use_certificate(ctx->ssl, cert) != 1 ||
           SSL_CTX_use_PrivateKey(ctx->ssl, key) != 1 || SSL_CTX_check_private_key(ctx->ssl) != 1)
    ssl_error(err, errlen, "the key does not match the certificate");
  else
    ok = 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  BIO_free(cb);
  BIO_free(kb);
  if (!ok) {
    lt_tls_ctx_free(ctx);
    return NULL;
  }
  return ctx;
}

lt_tls_ctx *lt_tls_client_ctx(const char *ca_pem, int verify, char *err, size_t errlen) {
  lt_tls_ctx *ctx = ctx_new(1, err, errlen);
  if (!ctx)
    return NULL;
  ctx->verify = verify;
  if (!verify) {
    SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_NONE, NULL);
    return ctx;
  }
  SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER, NULL);
  int ok;
  if (ca_pem) {
    X509_STORE *store = SSL_CTX_get_cert_store(ctx->ssl);
    BIO *bio = BIO_new_mem_buf(ca_pem, -1);
    X509 *cert;
    int n = 0;
    while (bio && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
      n += X509_STORE_add_cert(store, cert) == 1;
      X509_free(cert);
    }
    BIO_free(bio);
    ERR_clear_error(); /* (the read that ends the loop leaves one) */
    ok = n > 0;
    if (!ok)
      snprintf(err, errlen, "no certificate in the CA PEM");
  } else {
    ok = SSL_CTX_set_default_verify_paths(ctx->ssl) == 1;
    if (!ok)
      ssl_error(err, errlen, "the system's CA certificates");
  }
  if (!ok) {
    lt_tls_ctx_free(ctx);
    return NULL;
  }
  return ctx;
}

void *lt_tls_ctx_openssl(lt_tls_ctx *ctx) {
  return ctx->ssl;
}

int lt_tls_ctx_verifies(const lt_tls_ctx *ctx) {
  return ctx->verify;
}

void lt_tls_ctx_free(lt_tls_ctx *ctx) {
  if (!ctx)
    return;
  SSL_CTX_free(ctx->ssl);
  free(ctx);
}

lt_tls *lt_tls_new(lt_tls_ctx *ctx, const char *host) {
  lt_tls *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  t->ssl = SSL_new(ctx->ssl);
  t->in = BIO_new(BIO_s_mem());
  t->out = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->in || !t->out) {
    BIO_free(t->in);
    BIO_free(t->out);
    SSL_free(t->ssl);
    free(t);
    return NULL;
  }
  SSL_set_bio(t->ssl, t->in, t->out); /* (the SSL owns them now) */
  if (ctx->client) {
    SSL_set_connect_state(t->ssl);
    if (host) {
      unsigned char addr[16];
      int is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
      if (!is_ip)
        SSL_set_tlsext_host_name(t->ssl, host);
      X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
      if (is_ip)
        X509_VERIFY_PARAM_set1_ip_asc(param, host);
      else
        X509_VERIFY_PARAM_set1_host(param, host, 0);
    }
  } else {
    SSL_set_accept_state(t->ssl);
  }
  return t;
}

void lt_tls_free(lt_tls *t) {
  if (!t)
    return;
  SSL_free(t->ssl);
  lt_buf_free(&t->pending);
  free(t);
}

/* Moves what OpenSSL wrote for the peer into out. */
static int drain(lt_tls *t, lt_buf *out) {
  char chunk[16384];
  int n;
  while ((n = BIO_read(t->out, chunk, sizeof chunk)) > 0)
    if (lt_buf_append(out, chunk, (size_t)n))
      return LT_ENOMEM;
  return 0;
}

int lt_tls_verify_failure(void *ssl, const char *what, char *out, size_t n) {
  long v = SSL_get_verify_result(ssl);
  if (v == X509_V_OK)
    return 0;
  snprintf(out, n, "%s: certificate verify failed (%s)", what, X509_verify_cert_error_string(v));
  return 1;
}

static int fail(lt_tls *t, lt_buf *out, const char *what) {
  if (!t->failed) {
    if (t->established || !lt_tls_verify_failure(t->ssl, what, t->error, sizeof t->error))
      ssl_error(t->error, sizeof t->error, what);
    t->failed = 1;
  }
  ERR_clear_error();
  drain(t, out); /* the alert, if OpenSSL made one */
  return LT_ETLS;
}

/* Writes plaintext into the session; SSL_write with memory BIOs takes it
 * all (partial writes are off by default). */
static int put(lt_tls *t, const char *data, size_t len, lt_buf *out) {
  while (len > 0) {
    int n = SSL_write(t->ssl, data, len > 1 << 30 ? 1 << 30 : (int)len);
    if (n <= 0)
      return fail(t, out, "write");
    data += n;
    len -= (size_t)n;
  }
  return drain(t, out);
}

static int handshake(lt_tls *t, lt_buf *out) {
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    t->established = 1;
    if (t->pending.len) {
      int w = put(t, t->pending.data, t->pending.len, out);
      lt_buf_free(&t->pending);
      if (w)
        return w;
    }
    return drain(t, out);
  }
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
    return drain(t, out);
  return fail(t, out, "handshake");
}

int lt_tls_start(lt_tls *t, lt_buf *out) {
  if (t->failed)
    return LT_ETLS;
  return handshake(t, out);
}

int lt_tls_feed(lt_tls *t, const char *data, size_t len, lt_buf *plain, lt_buf *out) {
  if (t->failed)
    return LT_ETLS;
  if (len && BIO_write(t->in, data, (int)len) != (int)len)
    return LT_ENOMEM;
  if (!t->established) {
    int r = handshake(t, out);
    if (r || !t->established)
      return r;
  }
  char chunk[16384];
  for (;;) {
    int n = SSL_read(t->ssl, chunk, sizeof chunk);
    if (n > 0) {
      if (lt_buf_append(plain, chunk, (size_t)n))
        return LT_ENOMEM;
      continue;
    }
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
      break;
    if (e == SSL_ERROR_ZERO_RETURN) {
      t->peer_closed = 1;
      break;
    }
    return fail(t, out, "read");
  }
  return drain(t, out); /* (session tickets, key updates) */
}

int lt_tls_write(lt_tls *t, const char *data, size_t len, lt_buf *out) {
  if (t->failed)
    return LT_ETLS;
  if (!t->established)
    return lt_buf_append(&t->pending, data, len) ? LT_ENOMEM : 0;
  return put(t, data, len, out);
}

int lt_tls_shutdown(lt_tls *t, lt_buf *out) {
  if (t->failed || !t->established)
    return 0;
  SSL_shutdown(t->ssl);
  ERR_clear_error();
  return drain(t, out);
}

int lt_tls_established(const lt_tls *t) {
  return t->established;
}

int lt_tls_peer_closed(const lt_tls *t) {
  return t->peer_closed;
}

const char *lt_tls_error(const lt_tls *t) {
  return t->error;
}
