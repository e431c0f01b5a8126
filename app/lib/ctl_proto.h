/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_CTL_PROTO_H
#define RV_CTL_PROTO_H

/*
 * Wire format of the revenantd control socket, shared by the daemon
 * (ctl_server.c) and revenantctl (ctl_client.c).
 *
 * Transport: a Unix domain socket of type SOCK_SEQPACKET, so every send is
 * one message with its boundaries kept.  One connection carries one request.
 *
 * Request: one message holding the command's words, each terminated by a
 * NUL byte ("flow\0" "42\0").  At most RV_CTL_MAX_WORDS words and
 * RV_CTL_MAX_REQUEST bytes; no empty word, no control character.  The word
 * RV_CTL_JSON_WORD anywhere requests JSON output and is removed before the
 * handler gets the words.  The message may carry one file descriptor in an
 * SCM_RIGHTS control message (the output file of "dump").
 *
 * Reply: a header message of RV_CTL_HEADER_LEN bytes, then the body split
 * into messages of at most RV_CTL_MAX_CHUNK bytes, then the server closes
 * the connection.  On error the body is the error message.
 *
 * Header, multi-byte fields in network byte order:
 *   0  4  magic "RVCT"
 *   4  1  version, RV_CTL_VERSION
 *   5  1  status: RV_CTL_STATUS_OK or RV_CTL_STATUS_ERROR
 *   6  1  exit code: 0 with OK, 1..RV_CTL_MAX_EXIT_CODE with ERROR
 *   7  1  reserved, 0
 *   8  8  body length in bytes, at most RV_CTL_MAX_REPLY
 */

#define RV_CTL_DEFAULT_SOCKET	"/run/revenant/revenantd.sock"
/* Environment variable that overrides the default socket path. */
#define RV_CTL_SOCKET_ENV	"REVENANT_CTL_SOCKET"

#define RV_CTL_JSON_WORD	"--json"

#define RV_CTL_MAX_WORDS	32
#define RV_CTL_MAX_REQUEST	4096		/* bytes, NULs included */
#define RV_CTL_MAX_COMMAND_NAME	31		/* bytes */
#define RV_CTL_MAX_CHUNK	65536		/* bytes per body message */
#define RV_CTL_MAX_REPLY	(16u << 20)	/* bytes of body */

#define RV_CTL_MAGIC		"RVCT"
#define RV_CTL_VERSION		1
#define RV_CTL_HEADER_LEN	16

#define RV_CTL_STATUS_OK	0
#define RV_CTL_STATUS_ERROR	1

/* Exit codes that revenantctl returns for an error reply. */
#define RV_CTL_EXIT_FAILURE	1	/* the command failed */
#define RV_CTL_EXIT_USAGE	2	/* invalid command line */
#define RV_CTL_MAX_EXIT_CODE	125	/* above is reserved by shells */

/* Server limits. */
#define RV_CTL_MAX_CLIENTS	16
#define RV_CTL_IDLE_TIMEOUT_MS	10000	/* without progress, per connection */

/* Default time revenantctl waits for the whole reply. */
#define RV_CTL_DEFAULT_TIMEOUT_S	10

#endif
