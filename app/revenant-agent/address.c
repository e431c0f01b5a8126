/* SPDX-License-Identifier: BSD-3-Clause */
/* Adding the server address with rtnetlink (RTM_NEWADDR, rtnetlink(7)). */
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent.h"

struct addr_request {
	struct nlmsghdr nh;
	struct ifaddrmsg ifa;
	char attrs[64];
};

static void
add_attr(struct addr_request *req, unsigned short type, const void *data,
    size_t len)
{
	struct rtattr *rta;

	rta = (struct rtattr *)((char *)req + NLMSG_ALIGN(req->nh.nlmsg_len));
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	req->nh.nlmsg_len = NLMSG_ALIGN(req->nh.nlmsg_len) +
	    (uint32_t)RTA_ALIGN(rta->rta_len);
}

/* Reads the kernel's acknowledgement: an NLMSG_ERROR with error 0. */
static int
read_ack(int fd, uint32_t seq)
{
	char buf[4096];
	struct nlmsghdr *nh;
	struct nlmsgerr *err;
	ssize_t n;

	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
	    nh = NLMSG_NEXT(nh, n)) {
		if (nh->nlmsg_seq != seq || nh->nlmsg_type != NLMSG_ERROR)
			continue;
		if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*err)))
			return -EBADMSG;
		err = NLMSG_DATA(nh);
		return err->error;
	}
	return -EBADMSG;
}

int
rv_agent_add_address(const char *ifname, const struct rv_addr *address,
    uint8_t prefix_len, char *why, size_t why_len)
{
	struct addr_request req;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	struct timeval tv = { 2, 0 };
	uint32_t flags = 0;
	unsigned int ifindex;
	int fd, rc;

	if ((ifindex = if_nametoindex(ifname)) == 0) {
		snprintf(why, why_len, "interface %s: %s", ifname,
		    strerror(errno));
		return -ENODEV;
	}
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifa));
	req.nh.nlmsg_type = RTM_NEWADDR;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE |
	    NLM_F_EXCL;
	req.nh.nlmsg_seq = 1;
	req.ifa.ifa_family = address->family == 4 ? AF_INET : AF_INET6;
	req.ifa.ifa_prefixlen = prefix_len;
	req.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	req.ifa.ifa_index = ifindex;
	add_attr(&req, IFA_LOCAL, address->bytes, address->family == 4 ? 4 : 16);
	add_attr(&req, IFA_ADDRESS, address->bytes,
	    address->family == 4 ? 4 : 16);
	/* Duplicate address detection would hold an IPv6 address tentative
	 * (unusable) for a second or more (RFC 4862 section 5.4). */
	if (address->family == 6) {
		flags = IFA_F_NODAD;
		add_attr(&req, IFA_FLAGS, &flags, sizeof(flags));
	}

	if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
	    NETLINK_ROUTE)) < 0) {
		snprintf(why, why_len, "netlink socket: %s", strerror(errno));
		return -errno;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&nl,
	    sizeof(nl)) < 0)
		rc = -errno;
	else
		rc = read_ack(fd, req.nh.nlmsg_seq);
	close(fd);
	if (rc == -EEXIST)
		return 0;
	if (rc != 0)
		snprintf(why, why_len, "RTM_NEWADDR on %s: %s", ifname,
		    strerror(-rc));
	return rc;
}
