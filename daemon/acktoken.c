/*
 * acktoken.c: ack link tokens, HMAC-SHA256 through OpenSSL's libcrypto
 * (which libcurl already brings in).
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "acktoken.h"

int
acktoken_make(const unsigned char *secret, size_t secretlen, const char *id,
    char out[ACKTOKEN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	out[0] = '\0';
	if (secret == NULL || secretlen == 0 || secretlen > 1 << 20)
		return (-1);
	if (HMAC(EVP_sha256(), secret, (int)secretlen,
	    (const unsigned char *)id, strlen(id), md, &mdlen) == NULL ||
	    mdlen * 2 != ACKTOKEN_LEN)
		return (-1);
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[ACKTOKEN_LEN] = '\0';
	return (0);
}

int
acktoken_check(const unsigned char *secret, size_t secretlen, const char *id,
    const char *token)
{
	char want[ACKTOKEN_LEN + 1];

	if (token == NULL || strlen(token) != ACKTOKEN_LEN ||
	    acktoken_make(secret, secretlen, id, want) == -1)
		return (0);
	return (CRYPTO_memcmp(want, token, ACKTOKEN_LEN) == 0);
}
