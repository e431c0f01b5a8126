/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Announcing a taken-over address from the backup itself, right after it
 * is added: the restored sockets may send at once, and the client's
 * answers must reach this host, not the fenced primary. The appliance
 * announces again afterwards through its inject port.
 */
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "inject.h"

/* Frames sent per announcement; a lost one is covered by the next. */
#define ANNOUNCE_COUNT	3

static int
interface_mac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr;
	int fd, rc = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0)
		rc = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return rc;
}

int
rv_agent_announce(const char *ifname, const struct rv_addr *address,
    char *why, size_t why_len)
{
	uint8_t frame[RV_INJECT_FRAME_MAX], mac[6];
	struct sockaddr_ll sll;
	int fd, len, i, rc;

	rc = interface_mac(ifname, mac);
	if (rc != 0) {
		snprintf(why, why_len, "MAC of %s: %s", ifname, strerror(-rc));
		return rc;
	}
	len = address->family == 4 ?
	    rv_inject_garp(frame, sizeof(frame), mac, mac, address) :
	    rv_inject_unsolicited_na(frame, sizeof(frame), mac, mac, address);
	if (len < 0) {
		snprintf(why, why_len, "cannot build the announcement");
		return len;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(why, why_len, "packet socket: %s", strerror(errno));
		return rc;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, frame, 6);
	for (i = 0; i < ANNOUNCE_COUNT; i++) {
		if (sendto(fd, frame, (size_t)len, 0, (struct sockaddr *)&sll,
		    sizeof(sll)) != len) {
			rc = -errno;
			snprintf(why, why_len, "send on %s: %s", ifname,
			    strerror(errno));
			break;
		}
	}
	close(fd);
	return rc;
}
