/* TLS for test servers and clients (OpenSSL): the certificate a test
 * server presents when none is given, made in memory, and the TLS of one
 * connection over memory BIOs, which sits between a uv stream (ciphertext)
 * and the HTTP layer (plaintext) without touching either. */
#ifndef LT_TLS_H
#define LT_TLS_H

#include <stddef.h>
#include "buf.h"

/* A fresh EC P-256 key and a self-signed certificate for 127.0.0.1, ::1
 * and localhost (its own CA, as Go's httptest certificate), both PEM,
 * NUL-terminated and malloc'd (the caller frees them). 0, or LT_ENOMEM or
 * LT_ETLS when OpenSSL fails. */
int lt_tls_make_cert(char **cert_pem, char **key_pem);

/* The process's test certificate and key, made on first use and kept
 * until exit (making one costs about a millisecond; a suite reuses it). */
int lt_tls_test_cert(const char **cert_pem, const char **key_pem);

/* The base64 SHA-256 of a certificate's public key (SubjectPublicKeyInfo),
 * as browsers pin it (Chromium's --ignore-certificate-errors-spki-list),
 * into out (at least 45 bytes). 0 or LT_ETLS. */
int lt_tls_spki_sha256(const char *cert_pem, char *out, size_t outlen);

/* What connections share: a server's certificate and key, or a client's
 * trust (ca_pem NULL: the system's) and whether it verifies at all. On
 * failure NULL, with why in err. */
typedef struct lt_tls_ctx lt_tls_ctx;
lt_tls_ctx *lt_tls_server_ctx(const char *cert_pem, const char *key_pem, char *err, size_t errlen);
lt_tls_ctx *lt_tls_client_ctx(const char *ca_pem, int verify, char *err, size_t errlen);
void lt_tls_ctx_free(lt_tls_ctx *ctx);
/* The OpenSSL SSL_CTX under ctx, for libwebsockets (which takes one per
 * vhost), and whether a client context verifies the server. */
void *lt_tls_ctx_openssl(lt_tls_ctx *ctx);
int lt_tls_ctx_verifies(const lt_tls_ctx *ctx);
/* When the certificate check of ssl (an SSL *) failed: 1, with
 * "what: certificate verify failed (why)" in out. */
int lt_tls_verify_failure(void *ssl, const char *what, char *out, size_t n);

/* One connection. host (clients) is sent as SNI, unless it is an IP
 * address, and is what the certificate must name. */
typedef struct lt_tls lt_tls;
lt_tls *lt_tls_new(lt_tls_ctx *ctx, const char *host);
void lt_tls_free(lt_tls *t);

/* Each call appends what the peer must be sent (ciphertext) to out, and
 * returns 0 or LT_ETLS (lt_tls_error says why; out may hold an alert to
 * send before closing). */
int lt_tls_start(lt_tls *t, lt_buf *out); /* a client's first flight */
/* Ciphertext from the peer; the plaintext it carried is appended to plain. */
int lt_tls_feed(lt_tls *t, const char *data, size_t len, lt_buf *plain, lt_buf *out);
/* Plaintext to send; written before the handshake ends, it waits for it. */
int lt_tls_write(lt_tls *t, const char *data, size_t len, lt_buf *out);
/* A close_notify. */
int lt_tls_shutdown(lt_tls *t, lt_buf *out);
int lt_tls_established(const lt_tls *t);
/* The peer closed the TLS session cleanly (close_notify). */
int lt_tls_peer_closed(const lt_tls *t);
const char *lt_tls_error(const lt_tls *t);

#endif
