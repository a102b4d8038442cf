/* TLS for test servers and clients (OpenSSL). For now: the certificate a
 * test server presents when none is given, made in memory. */
#ifndef LT_TLS_H
#define LT_TLS_H

#include <stddef.h>

/* A fresh EC P-256 key and a self-signed certificate for 127.0.0.1, ::1
 * and localhost (its own CA, as Go's httptest certificate), both PEM,
 * NUL-terminated and malloc'd (the caller frees them). 0, or LT_ENOMEM or
 * LT_ETLS when OpenSSL fails. */
int lt_tls_make_cert(char **cert_pem, char **key_pem);

/* The process's test certificate and key, made on first use and kept
 * until exit (making one costs about a millisecond; a suite reuses it). */
int lt_tls_test_cert(const char **cert_pem, const char **key_pem);

#endif
