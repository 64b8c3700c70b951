/*
 * cpg-member.c: one member of a 3-process Corosync CPG group, for `npm run bench:peers`.
 *
 * It measures what `npm run bench` measures for Cohort, with Corosync's closed process
 * group API (libcpg) in agreed order (CPG_TYPE_AGREED, Corosync's total order):
 *
 *   cpg-member MODE ID MEMBERS SENDERS SIZE WARMUP_MS WINDOW_MS
 *
 *   MODE     tput: the members with ID >= MEMBERS - SENDERS multicast as fast as
 *                  Corosync's flow control lets them (cpg_mcast_joined answering
 *                  CS_ERR_TRY_AGAIN is the back-pressure) for WARMUP_MS + WINDOW_MS;
 *                  every member counts the messages delivered to it, its own
 *                  included, inside the window.
 *            lat:  member MEMBERS - 1 multicasts one message, waits until it is
 *                  delivered back to itself, and only then sends the next; the round
 *                  trips that started inside the window give p50/p99.
 *   ID       this member's index, 0..MEMBERS-1
 *   SIZE     payload bytes per message (at least the 6-byte header below)
 *
 * Start: every member multicasts READY once its view holds MEMBERS members (again
 * every 500 ms until the barrier is done) and starts when READY from all MEMBERS has
 * been delivered; agreed order makes the members start within about a millisecond.
 * After the window it keeps delivering for LINGER_MS so that nobody leaves the group
 * while another member is still counting.
 *
 * Output: one line on standard output,
 *   MEMBER id=0 mode=tput sent=... delivered_win=... window_s=10.000 msgs_per_s=... view_changes=0
 *   MEMBER id=2 mode=lat sent=... samples=... p50_us=... p99_us=... view_changes=0
 * (view_changes: membership changes seen between the start and the window's end; the
 * driver discards a repetition with any, as `npm run bench` fails a run whose view changed)
 * Errors go to standard error with exit status 3 (libcpg error) or 4 (a bound passed).
 * Every wait is bounded: the barrier by BARRIER_MS, one latency round trip by
 * ROUND_TRIP_MS; the driver also kills the process at its own deadline.
 */
#define _GNU_SOURCE
#include <corosync/corotypes.h>
#include <corosync/cpg.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define KIND_READY 1
#define KIND_DATA 2
#define HEADER_BYTES 6      /* kind (1), member id (1), sequence number (4, little-endian) */
#define BARRIER_MS 60000    /* the group must form and pass the barrier within this */
#define ROUND_TRIP_MS 10000 /* one latency message must come back within this */
#define LINGER_MS 1000
#define MAX_MEMBERS 64

static cpg_handle_t handle;
static int cpg_fd;
static unsigned int my_nodeid;
static uint32_t my_pid;
static int my_id;

static int view_members;
static int ready_from[MAX_MEMBERS];
static int ready_count;

/* The measured window, CLOCK_MONOTONIC nanoseconds; empty until the barrier is done. */
static uint64_t window_from = UINT64_MAX, window_to;
static uint64_t delivered_in_window;
/* Membership changes between the start and the end of the window (should be none). */
static int view_changes;

/* Latency: the sequence number awaited back (UINT32_MAX: none) and when it came. */
static uint32_t awaited = UINT32_MAX;
static uint64_t awaited_at;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t read_u32le(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void write_u32le(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static void on_deliver(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid, uint32_t pid,
		       void *msg, size_t len)
{
	const unsigned char *m = msg;
	uint64_t t = now_ns();
	(void)h;
	(void)group;
	if (len < HEADER_BYTES)
		return;
	if (m[0] == KIND_READY) {
		if (m[1] < MAX_MEMBERS && !ready_from[m[1]]) {
			ready_from[m[1]] = 1;
			ready_count++;
		}
		return;
	}
	if (t >= window_from && t < window_to)
		delivered_in_window++;
	if (nodeid == my_nodeid && pid == my_pid && read_u32le(m + 2) == awaited) {
		awaited = UINT32_MAX;
		awaited_at = t;
	}
}

static void on_view(cpg_handle_t h, const struct cpg_name *group, const struct cpg_address *members,
		    size_t n_members, const struct cpg_address *left, size_t n_left,
		    const struct cpg_address *joined, size_t n_joined)
{
	(void)h;
	(void)group;
	(void)members;
	(void)left;
	(void)n_left;
	(void)joined;
	(void)n_joined;
	view_members = (int)n_members;
	if (window_from != UINT64_MAX && now_ns() < window_to)
		view_changes++;
}

/* Wait up to timeout_ms for the daemon's socket, then run every callback that is ready. */
static void dispatch(int timeout_ms)
{
	struct pollfd p = { .fd = cpg_fd, .events = POLLIN };
	if (poll(&p, 1, timeout_ms) > 0) {
		cs_error_t e = cpg_dispatch(handle, CS_DISPATCH_ALL);
		if (e != CS_OK && e != CS_ERR_TRY_AGAIN) {
			fprintf(stderr, "cpg_dispatch: error %d\n", e);
			exit(3);
		}
	}
}

/* One agreed-order multicast: 1 sent, 0 refused by flow control (try again later). */
static int multicast(unsigned char *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	cs_error_t e = cpg_mcast_joined(handle, CPG_TYPE_AGREED, &iov, 1);
	if (e == CS_OK)
		return 1;
	if (e == CS_ERR_TRY_AGAIN)
		return 0;
	fprintf(stderr, "cpg_mcast_joined: error %d\n", e);
	exit(3);
}

static int by_value(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the ascending samples, as the project's bench computes it. */
static double percentile_us(const uint64_t *sorted, size_t n, double q)
{
	size_t rank = (size_t)ceil((double)n * q);
	if (n == 0)
		return -1;
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)sorted[rank - 1] / 1e3;
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: %s tput|lat ID MEMBERS SENDERS SIZE WARMUP_MS WINDOW_MS\n", argv[0]);
		return 2;
	}
	const char *mode = argv[1];
	my_id = atoi(argv[2]);
	int members = atoi(argv[3]);
	int senders = atoi(argv[4]);
	size_t size = (size_t)atol(argv[5]);
	uint64_t warmup_ns = (uint64_t)atol(argv[6]) * 1000000ull;
	uint64_t window_ns = (uint64_t)atol(argv[7]) * 1000000ull;
	int latency = strcmp(mode, "lat") == 0;
	if ((!latency && strcmp(mode, "tput") != 0) || members < 1 || members > MAX_MEMBERS || my_id < 0 ||
	    my_id >= members || senders < 1 || senders > members || size < HEADER_BYTES) {
		fprintf(stderr, "cpg-member: bad arguments\n");
		return 2;
	}

	cpg_model_v1_data_t model = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = on_deliver,
		.cpg_confchg_fn = on_view,
	};
	uint64_t give_up = now_ns() + (uint64_t)BARRIER_MS * 1000000ull;
	cs_error_t e;
	/* The daemon may still be starting its IPC: retry, bounded. */
	while ((e = cpg_model_initialize(&handle, CPG_MODEL_V1, (cpg_model_data_t *)&model, NULL)) != CS_OK) {
		if (now_ns() > give_up) {
			fprintf(stderr, "cpg_model_initialize: error %d\n", e);
			return 4;
		}
		usleep(100000);
	}
	cpg_local_get(handle, &my_nodeid);
	my_pid = (uint32_t)getpid();
	cpg_fd_get(handle, &cpg_fd);
	struct cpg_name group = { .length = 5 };
	memcpy(group.value, "bench", 5);
	while ((e = cpg_join(handle, &group)) != CS_OK) {
		if (e != CS_ERR_TRY_AGAIN || now_ns() > give_up) {
			fprintf(stderr, "cpg_join: error %d\n", e);
			return e == CS_ERR_TRY_AGAIN ? 4 : 3;
		}
		usleep(100000);
	}

	unsigned char *buf = calloc(1, size);
	if (buf == NULL)
		return 3;
	buf[1] = (unsigned char)my_id;

	/* Barrier through the group itself. */
	uint64_t next_ready = 0;
	while (ready_count < members) {
		uint64_t t = now_ns();
		if (t > give_up) {
			fprintf(stderr, "barrier: timed out (view of %d, READY from %d)\n", view_members, ready_count);
			return 4;
		}
		if (view_members >= members && t >= next_ready) {
			buf[0] = KIND_READY;
			if (multicast(buf, HEADER_BYTES))
				next_ready = t + 500000000ull;
		}
		dispatch(10);
	}
	uint64_t start = now_ns();
	uint64_t end = start + warmup_ns + window_ns;
	window_from = start + warmup_ns;
	window_to = end;
	buf[0] = KIND_DATA;

	uint64_t sent = 0, refused = 0;
	uint64_t *samples = NULL;
	size_t n_samples = 0, cap = 0;
	int i_send = latency ? my_id == members - 1 : my_id >= members - senders;
	if (latency && i_send) {
		cap = 4000000;
		samples = malloc(cap * sizeof(uint64_t));
		if (samples == NULL)
			return 3;
	}
	while (now_ns() < end) {
		if (!i_send) {
			dispatch(50);
		} else if (!latency) {
			write_u32le(buf + 2, (uint32_t)sent);
			if (multicast(buf, size)) {
				sent++;
				cpg_dispatch(handle, CS_DISPATCH_ALL); /* deliver what is ready, without blocking */
			} else {
				refused++;
				dispatch(1); /* back-pressure: wait for the daemon, deliver meanwhile */
			}
		} else {
			uint64_t t0 = now_ns();
			write_u32le(buf + 2, (uint32_t)sent);
			awaited = (uint32_t)sent;
			while (!multicast(buf, size)) {
				refused++;
				dispatch(1);
				if (now_ns() - t0 > (uint64_t)ROUND_TRIP_MS * 1000000ull) {
					fprintf(stderr, "latency: send refused for %d ms\n", ROUND_TRIP_MS);
					return 4;
				}
			}
			sent++;
			while (awaited != UINT32_MAX) {
				dispatch(100);
				if (now_ns() - t0 > (uint64_t)ROUND_TRIP_MS * 1000000ull) {
					fprintf(stderr, "latency: message %llu not delivered back within %d ms\n",
						(unsigned long long)(sent - 1), ROUND_TRIP_MS);
					return 4;
				}
			}
			if (t0 >= window_from && n_samples < cap)
				samples[n_samples++] = awaited_at - t0;
		}
	}
	uint64_t linger_end = now_ns() + (uint64_t)LINGER_MS * 1000000ull;
	while (now_ns() < linger_end)
		dispatch(20);

	double window_s = (double)window_ns / 1e9;
	if (latency && i_send) {
		qsort(samples, n_samples, sizeof(uint64_t), by_value);
		printf("MEMBER id=%d mode=lat sent=%llu samples=%zu p50_us=%.1f p99_us=%.1f view_changes=%d\n", my_id,
		       (unsigned long long)sent, n_samples, percentile_us(samples, n_samples, 0.5),
		       percentile_us(samples, n_samples, 0.99), view_changes);
	} else {
		printf("MEMBER id=%d mode=%s sent=%llu refused=%llu delivered_win=%llu window_s=%.3f msgs_per_s=%.1f view_changes=%d\n",
		       my_id, mode, (unsigned long long)sent, (unsigned long long)refused,
		       (unsigned long long)delivered_in_window, window_s, (double)delivered_in_window / window_s, view_changes);
	}
	fflush(stdout);
	cpg_leave(handle, &group);
	cpg_finalize(handle);
	free(samples);
	free(buf);
	return 0;
}
