/*
 * tcp-sink.c - the host end of the guest TCP transfer test: listen on
 * ADDR:PORT, accept one connection, read exactly BYTES bytes (or until the
 * peer closes), then print "bytes=N sha256=HEX" and exit 0 when N == BYTES.
 * Gives up after TIMEOUT seconds.
 *   tcp-sink ADDR PORT BYTES TIMEOUT
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned long long want, got = 0;
	unsigned char md[EVP_MAX_MD_SIZE], buf[65536];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx;
	int ls, s, one = 1, timeout;
	time_t end;

	if (argc != 5 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "usage: tcp-sink ADDR PORT BYTES TIMEOUT\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	want = strtoull(argv[3], NULL, 0);
	timeout = atoi(argv[4]);
	end = time(NULL) + timeout;
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 1)) {
		perror("tcp-sink: listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	struct pollfd p = { .fd = ls, .events = POLLIN };
	if (poll(&p, 1, timeout * 1000) != 1) {
		fprintf(stderr, "tcp-sink: no connection within %d s\n", timeout);
		return 1;
	}
	s = accept(ls, NULL, NULL);
	ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while (got < want && time(NULL) < end) {
		struct pollfd q = { .fd = s, .events = POLLIN };
		size_t room = want - got < sizeof(buf) ? (size_t)(want - got) : sizeof(buf);
		ssize_t n;

		if (poll(&q, 1, 1000) != 1)
			continue;
		n = read(s, buf, room);
		if (n <= 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		got += (unsigned long long)n;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	close(s);
	close(ls);
	printf("bytes=%llu sha256=", got);
	for (unsigned i = 0; i < mdlen; i++)
		printf("%02x", md[i]);
	printf("\n");
	return got == want ? 0 : 1;
}
