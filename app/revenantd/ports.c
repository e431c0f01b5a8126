/* SPDX-License-Identifier: BSD-3-Clause */
#include <dirent.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <rte_ethdev.h>

#include "daemon.h"
#include "log.h"

/* A PCI address is DDDD:BB:DD.F or BB:DD.F; anything else is a vdev. */
static bool
is_pci(const char *spec)
{
	unsigned int a, b, c, d;
	char tail;

	return sscanf(spec, "%x:%x:%x.%x%c", &a, &b, &c, &d, &tail) == 4 ||
	    sscanf(spec, "%x:%x.%x%c", &a, &b, &c, &tail) == 3;
}

int
rv_port_eal_arg(const char *spec, char *buf, size_t len)
{
	int n;

	if (is_pci(spec))
		n = snprintf(buf, len, "--allow=%s", spec);
	else
		n = snprintf(buf, len, "--vdev=%s", spec);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void
device_name(const char *spec, char *name, size_t len)
{
	size_t n = strcspn(spec, ",");

	/* DPDK names PCI devices with their domain: 0000:BB:DD.F. */
	if (is_pci(spec) && strchr(spec, ':') == strrchr(spec, ':')) {
		snprintf(name, len, "0000:%s", spec);
		return;
	}
	if (n >= len)
		n = len - 1;
	memcpy(name, spec, n);
	name[n] = '\0';
}

static void
iface_name(const char *spec, char *iface, size_t len)
{
	const char *p = strstr(spec, "iface=");
	size_t n;

	iface[0] = '\0';
	if (p == NULL)
		return;
	p += strlen("iface=");
	n = strcspn(p, ",");
	if (n >= len)
		n = len - 1;
	memcpy(iface, p, n);
	iface[n] = '\0';
}

int
rv_port_open(struct rv_port *port, const char *role, const char *spec,
    struct rte_mempool *mbufs, uint16_t ring_size)
{
	struct rte_eth_conf conf;
	int rc;

	memset(port, 0, sizeof(*port));
	port->role = role;
	port->spec = spec;
	device_name(spec, port->name, sizeof(port->name));
	iface_name(spec, port->iface, sizeof(port->iface));
	/* EAL carries on when a vdev fails to probe (a missing af_packet
	 * interface, say), so the port's absence is the only sign. */
	if (rte_eth_dev_get_port_by_name(port->name, &port->id) != 0) {
		rv_err("port %s: device %s did not come up%s%s%s; check "
		    "ports.%s in the configuration and the EAL messages "
		    "above", role, port->name,
		    port->iface[0] != '\0' ? " (is interface " : "",
		    port->iface, port->iface[0] != '\0' ? " present?)" : "",
		    role);
		return -ENODEV;
	}
	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(port->id, 1, 1, &conf);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(port->id, 0, ring_size,
		    rte_eth_dev_socket_id(port->id), NULL, mbufs);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(port->id, 0, ring_size,
		    rte_eth_dev_socket_id(port->id), NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(port->id);
	if (rc != 0) {
		rv_err("port %s: cannot start device %s: %s", role,
		    port->name, strerror(-rc));
		return rc;
	}
	/* A mirror port receives frames for every MAC. */
	rc = rte_eth_promiscuous_enable(port->id);
	if (rc != 0 && rc != -ENOTSUP)
		rv_warn("port %s: cannot enable promiscuous mode: %s", role,
		    strerror(-rc));
	{
		struct rte_ether_addr mac;

		if (rte_eth_macaddr_get(port->id, &mac) == 0)
			memcpy(port->mac, mac.addr_bytes, 6);
	}
	rv_info("port %s: %s up as port %u%s%s", role, port->name, port->id,
	    port->iface[0] != '\0' ? " on interface " : "", port->iface);
	return 0;
}

int
rv_port_inject(struct rv_daemon *d, const uint8_t *frame, int len)
{
	struct rte_mbuf *mb;
	uint8_t *p;
	int rc = 0;

	if (len <= 0)
		return -EINVAL;
	mb = rte_pktmbuf_alloc(d->mbufs);
	if (mb == NULL)
		return -ENOMEM;
	p = (uint8_t *)rte_pktmbuf_append(mb, (uint16_t)len);
	if (p == NULL) {
		rte_pktmbuf_free(mb);
		return -ENOMEM;
	}
	memcpy(p, frame, (size_t)len);
	pthread_mutex_lock(&d->inject_lock);
	if (rte_eth_tx_burst(d->inject_port.id, 0, &mb, 1) != 1) {
		rte_pktmbuf_free(mb);
		rc = -EAGAIN;
	}
	pthread_mutex_unlock(&d->inject_lock);
	return rc;
}

void
rv_port_close(struct rv_port *port)
{
	if (port->name[0] == '\0')
		return;
	rte_eth_dev_stop(port->id);
	rte_eth_dev_close(port->id);
}

/*
 * Returns the frames that the af_xdp sockets of this process lost in the
 * kernel for want of room in their receive ring, or for an invalid
 * descriptor. XDP_STATISTICS counts from the socket's creation and a read
 * does not reset it. DPDK 22.11's af_xdp PMD already reports the
 * socket's rx_dropped (an empty fill ring) as imissed, so that counter is
 * left out here.
 */
static uint64_t
xdp_ring_drops(DIR *dir)
{
	struct xdp_statistics st;
	struct dirent *de;
	uint64_t drops = 0;
	socklen_t len;
	int fd, domain;

	while ((de = readdir(dir)) != NULL) {
		fd = atoi(de->d_name);
		if (fd <= 2 || fd == dirfd(dir))
			continue;
		len = sizeof(domain);
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 ||
		    domain != AF_XDP)
			continue;
		memset(&st, 0, sizeof(st));
		len = sizeof(st);
		if (getsockopt(fd, SOL_XDP, XDP_STATISTICS, &st, &len) != 0)
			continue;
		drops += st.rx_ring_full + st.rx_invalid_descs;
	}
	return drops;
}

void
rv_port_poll_drops(struct rv_port *port)
{
	struct tpacket_stats_v3 st;
	struct sockaddr_ll sll;
	unsigned int ifindex;
	struct dirent *de;
	socklen_t len;
	DIR *dir;
	int fd, domain;

	if (port->iface[0] == '\0')
		return;
	ifindex = if_nametoindex(port->iface);
	if (ifindex == 0)
		return;
	dir = opendir("/proc/self/fd");
	if (dir == NULL)
		return;
	if (strncmp(port->name, "net_af_xdp", strlen("net_af_xdp")) == 0) {
		/* NOTE: an af_xdp socket does not name its interface, so this
		 * counts every af_xdp socket of the process: correct while
		 * the capture port is the only af_xdp port. */
		port->kernel_drops = xdp_ring_drops(dir);
		closedir(dir);
		return;
	}
	/* The PMD keeps its packet sockets private; find them among our
	 * descriptors by family and bound interface. */
	while ((de = readdir(dir)) != NULL) {
		fd = atoi(de->d_name);
		if (fd <= 2 || fd == dirfd(dir))
			continue;
		len = sizeof(domain);
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 ||
		    domain != AF_PACKET)
			continue;
		len = sizeof(sll);
		if (getsockname(fd, (struct sockaddr *)&sll, &len) != 0 ||
		    (unsigned int)sll.sll_ifindex != ifindex)
			continue;
		len = sizeof(st);
		if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st,
		    &len) != 0)
			continue;
		port->kernel_packets += st.tp_packets;
		port->kernel_drops += st.tp_drops;
	}
	closedir(dir);
}
