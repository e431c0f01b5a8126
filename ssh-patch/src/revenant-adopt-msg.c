/* SPDX-License-Identifier: BSD-3-Clause */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "revenant-adopt-msg.h"

/* A bounded reader over untrusted bytes. */
struct reader {
	const uint8_t	*p;
	size_t		left;
};

static int
get_bytes(struct reader *r, const uint8_t **out, size_t n)
{
	if (r->left < n)
		return RV_ADOPT_MSG_ERR_INCOMPLETE;
	*out = r->p;
	r->p += n;
	r->left -= n;
	return 0;
}

static int
get_u16(struct reader *r, uint16_t *v)
{
	const uint8_t *b;
	int ret;

	if ((ret = get_bytes(r, &b, 2)) != 0)
		return ret;
	*v = (uint16_t)(b[0] << 8 | b[1]);
	return 0;
}

static int
get_u32(struct reader *r, uint32_t *v)
{
	const uint8_t *b;
	int ret;

	if ((ret = get_bytes(r, &b, 4)) != 0)
		return ret;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
	return 0;
}

static int
get_u64(struct reader *r, uint64_t *v)
{
	uint32_t hi, lo;
	int ret;

	if ((ret = get_u32(r, &hi)) != 0 || (ret = get_u32(r, &lo)) != 0)
		return ret;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

const char *
rv_adopt_msg_strerror(int code)
{
	switch (code) {
	case RV_ADOPT_MSG_OK:
		return "success";
	case RV_ADOPT_MSG_ERR_INVALID_ARGUMENT:
		return "invalid argument";
	case RV_ADOPT_MSG_ERR_INCOMPLETE:
		return "message ends inside a field";
	case RV_ADOPT_MSG_ERR_MALFORMED:
		return "invalid magic, version or address family";
	case RV_ADOPT_MSG_ERR_TRAILING:
		return "bytes after the last field";
	case RV_ADOPT_MSG_ERR_TOO_LARGE:
		return "a length or count over its limit";
	case RV_ADOPT_MSG_ERR_SYSTEM:
		return "reading the Unix socket failed";
	case RV_ADOPT_MSG_ERR_NO_SOCKET:
		return "no TCP socket passed with the message";
	}
	return "unknown error";
}

int
rv_adopt_msg_header_decode(const uint8_t *hdr, size_t len, uint8_t *family,
    uint32_t *body_len)
{
	struct reader r = { hdr, len };
	const uint8_t *magic;
	uint16_t reserved16;
	uint32_t reserved32;
	int ret;

	if (hdr == NULL || family == NULL || body_len == NULL)
		return RV_ADOPT_MSG_ERR_INVALID_ARGUMENT;
	if ((ret = get_bytes(&r, &magic, 4)) != 0)
		return ret;
	if (memcmp(magic, RV_ADOPT_MSG_MAGIC, 4) != 0)
		return RV_ADOPT_MSG_ERR_MALFORMED;
	if (r.left < 2)
		return RV_ADOPT_MSG_ERR_INCOMPLETE;
	if (r.p[0] != RV_ADOPT_MSG_VERSION ||
	    (r.p[1] != 4 && r.p[1] != 6))
		return RV_ADOPT_MSG_ERR_MALFORMED;
	*family = r.p[1];
	r.p += 2;
	r.left -= 2;
	if ((ret = get_u16(&r, &reserved16)) != 0 ||
	    (ret = get_u32(&r, body_len)) != 0 ||
	    (ret = get_u32(&r, &reserved32)) != 0)
		return ret;
	if (reserved16 != 0 || reserved32 != 0)
		return RV_ADOPT_MSG_ERR_MALFORMED;
	if (r.left != 0)
		return RV_ADOPT_MSG_ERR_TRAILING;
	if (*body_len < RV_ADOPT_MSG_FIXED_LEN)
		return RV_ADOPT_MSG_ERR_INCOMPLETE;
	if (*body_len > RV_ADOPT_MSG_BODY_MAX)
		return RV_ADOPT_MSG_ERR_TOO_LARGE;
	return 0;
}

int
rv_adopt_msg_body_decode(const uint8_t *body, size_t len, uint8_t family,
    struct rv_adopt_msg *msg)
{
	struct reader r = { body, len };
	const uint8_t *addr;
	int ret;

	if (body == NULL || msg == NULL || (family != 4 && family != 6))
		return RV_ADOPT_MSG_ERR_INVALID_ARGUMENT;
	memset(msg, 0, sizeof(*msg));
	msg->family = family;
	if ((ret = get_bytes(&r, &addr, 16)) != 0)
		return ret;
	memcpy(msg->server, addr, 16);
	if ((ret = get_u16(&r, &msg->server_port)) != 0 ||
	    (ret = get_bytes(&r, &addr, 16)) != 0)
		return ret;
	memcpy(msg->client, addr, 16);
	if ((ret = get_u16(&r, &msg->client_port)) != 0 ||
	    (ret = get_u64(&r, &msg->c2s.offset)) != 0 ||
	    (ret = get_u32(&r, &msg->c2s.len)) != 0 ||
	    (ret = get_u64(&r, &msg->s2c.offset)) != 0 ||
	    (ret = get_u32(&r, &msg->s2c.len)) != 0 ||
	    (ret = get_u32(&r, &msg->material_len)) != 0)
		return ret;
	if ((ret = get_bytes(&r, &msg->c2s.data, msg->c2s.len)) != 0 ||
	    (ret = get_bytes(&r, &msg->s2c.data, msg->s2c.len)) != 0 ||
	    (ret = get_bytes(&r, &msg->material, msg->material_len)) != 0)
		return ret;
	if (r.left != 0)
		return RV_ADOPT_MSG_ERR_TRAILING;
	return 0;
}

int
rv_adopt_msg_checkpoints(const struct rv_adopt_msg *msg,
    struct rv_adopt_ckpt *ckpts, size_t max, size_t *count)
{
	struct reader r;
	uint32_t n, i;
	int ret;

	if (msg == NULL || ckpts == NULL || count == NULL)
		return RV_ADOPT_MSG_ERR_INVALID_ARGUMENT;
	*count = 0;
	r.p = msg->material;
	r.left = msg->material_len;
	if ((ret = get_u32(&r, &n)) != 0)
		return ret;
	if (n > max)
		return RV_ADOPT_MSG_ERR_TOO_LARGE;
	for (i = 0; i < n; i++) {
		if ((ret = get_u32(&r, &ckpts[i].len)) != 0 ||
		    (ret = get_bytes(&r, &ckpts[i].data, ckpts[i].len)) != 0)
			return ret;
	}
	if (r.left != 0)
		return RV_ADOPT_MSG_ERR_TRAILING;
	*count = n;
	return 0;
}

/* Reads exactly len bytes, retrying short reads and EINTR. */
static int
read_full(int fd, uint8_t *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = read(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return RV_ADOPT_MSG_ERR_SYSTEM;
		if (n == 0)
			return RV_ADOPT_MSG_ERR_INCOMPLETE;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Receives the first bytes of the header and the passed descriptor. */
static int
recv_with_fd(int fd, uint8_t *buf, size_t len, size_t *got, int *sock)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *cm;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	memset(&control, 0, sizeof(control));
	iov.iov_base = buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = control.buf;
	mh.msg_controllen = sizeof(control.buf);
	do {
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return RV_ADOPT_MSG_ERR_SYSTEM;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)) && *sock == -1)
			memcpy(sock, CMSG_DATA(cm), sizeof(int));
	}
	*got = (size_t)n;
	if (n == 0)
		return RV_ADOPT_MSG_ERR_INCOMPLETE;
	if (*sock == -1)
		return RV_ADOPT_MSG_ERR_NO_SOCKET;
	return 0;
}

int
rv_adopt_msg_recv(int fd, int *sock, uint8_t *family, uint8_t **body,
    size_t *body_len)
{
	uint8_t hdr[RV_ADOPT_MSG_HEADER_LEN];
	uint8_t *buf = NULL;
	uint32_t len;
	size_t got = 0;
	int ret;

	if (sock == NULL || family == NULL || body == NULL || body_len == NULL)
		return RV_ADOPT_MSG_ERR_INVALID_ARGUMENT;
	*sock = -1;
	*body = NULL;
	if ((ret = recv_with_fd(fd, hdr, sizeof(hdr), &got, sock)) != 0)
		goto out;
	if ((ret = read_full(fd, hdr + got, sizeof(hdr) - got)) != 0 ||
	    (ret = rv_adopt_msg_header_decode(hdr, sizeof(hdr), family,
	    &len)) != 0)
		goto out;
	if ((buf = malloc(len)) == NULL) {
		ret = RV_ADOPT_MSG_ERR_TOO_LARGE;
		goto out;
	}
	if ((ret = read_full(fd, buf, len)) != 0)
		goto out;
	*body = buf;
	*body_len = len;
	buf = NULL;
	ret = 0;
 out:
	free(buf);
	if (ret != 0 && *sock != -1) {
		close(*sock);
		*sock = -1;
	}
	return ret;
}
