import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import org.jgroups.Address;
import org.jgroups.JChannel;
import org.jgroups.Message;
import org.jgroups.ReceiverAdapter;
import org.jgroups.View;

/**
 * One member of a 3-JVM JGroups group, for `npm run bench:peers`; it measures what
 * `npm run bench` measures for Cohort, against the JGroups 2.12 API (JChannel +
 * ReceiverAdapter) with a total-order stack (SEQUENCER, written by the driver).
 *
 *   java -cp CLASSES:jgroups.jar JgroupsMember STACK_XML ID MEMBERS MODE SENDERS SIZE WARMUP_MS WINDOW_MS
 *
 * MODE tput: the SENDERS youngest members of the view (rank >= MEMBERS - SENDERS; the
 *            coordinator, which is also the sequencer, is the oldest) multicast as fast
 *            as JChannel.send() lets them (credit flow control blocks the caller) for
 *            WARMUP_MS + WINDOW_MS; every member counts the messages delivered to it,
 *            its own included, inside the window.
 * MODE lat:  the youngest member multicasts one message, waits until it is delivered
 *            back to itself, then sends the next; round trips that started inside the
 *            window give p50/p99 (nearest rank, as the project's bench).
 *
 * Start: once the view holds MEMBERS members, every member multicasts READY (again
 * every 500 ms) and starts when READY from all of them has been delivered. Output:
 * one "MEMBER key=value ..." line on standard output; blocked=1 on a throughput line
 * says this member's sender was still stuck inside send() after the window and the
 * linger (JGroups 2.12's SEQUENCER with credit flow control can block senders for
 * good under saturation); what it delivered is reported all the same. view_changes:
 * views installed between the start and the window's end (the driver discards such a
 * repetition, as `npm run bench` fails a run whose view changed). Bounds: joining
 * and the barrier within BARRIER_MS (+ margin), one latency round trip within
 * ROUND_TRIP_MS, and the JVM halts itself at a hard deadline after the start whatever
 * happens; the driver kills it at its own deadline as well.
 */
public final class JgroupsMember {
    static final byte KIND_READY = 1, KIND_DATA = 2;
    static final int HEADER_BYTES = 6; // kind (1), member id (1), sequence number (4, big-endian)
    static final long BARRIER_MS = 60_000, ROUND_TRIP_MS = 10_000, LINGER_MS = 1_000, HARD_MARGIN_MS = 20_000;

    static volatile View view;
    static final boolean[] readyFrom = new boolean[64];
    static int readyCount; // guarded by readyFrom
    static volatile long windowFrom = Long.MAX_VALUE, windowTo = Long.MIN_VALUE;
    static final AtomicLong deliveredInWindow = new AtomicLong();
    static final Object roundTrip = new Object();
    static int awaited = -1; // guarded by roundTrip; -1: nothing awaited
    static long awaitedAt;   // guarded by roundTrip
    static int myId;
    static final AtomicLong viewChanges = new AtomicLong(); // between the start and the window's end

    public static void main(String[] args) throws Exception {
        if (args.length != 8) {
            System.err.println("usage: JgroupsMember STACK_XML ID MEMBERS tput|lat SENDERS SIZE WARMUP_MS WINDOW_MS");
            System.exit(2);
        }
        String stack = args[0];
        myId = Integer.parseInt(args[1]);
        int members = Integer.parseInt(args[2]);
        boolean latency = args[3].equals("lat");
        int senders = Integer.parseInt(args[4]);
        int size = Integer.parseInt(args[5]);
        long warmupMs = Long.parseLong(args[6]);
        long windowMs = Long.parseLong(args[7]);
        if (size < HEADER_BYTES || members > readyFrom.length || (!latency && !args[3].equals("tput"))) {
            System.err.println("JgroupsMember: bad arguments");
            System.exit(2);
        }
        long bornNs = System.nanoTime();
        Thread joinBound = haltAt(BARRIER_MS + HARD_MARGIN_MS, "joining and the barrier took too long");

        JChannel ch = new JChannel(stack);
        ch.setReceiver(new ReceiverAdapter() {
            @Override
            public void receive(Message msg) {
                long t = System.nanoTime();
                byte[] b = msg.getRawBuffer();
                int o = msg.getOffset();
                if (msg.getLength() < HEADER_BYTES) return;
                int from = b[o + 1] & 0xff;
                if (b[o] == KIND_READY) {
                    synchronized (readyFrom) {
                        if (from < readyFrom.length && !readyFrom[from]) {
                            readyFrom[from] = true;
                            readyCount++;
                        }
                    }
                    return;
                }
                if (t >= windowFrom && t < windowTo) deliveredInWindow.incrementAndGet();
                if (from == myId) {
                    int seq = (b[o + 2] & 0xff) << 24 | (b[o + 3] & 0xff) << 16 | (b[o + 4] & 0xff) << 8 | (b[o + 5] & 0xff);
                    synchronized (roundTrip) {
                        if (seq == awaited) {
                            awaited = -1;
                            awaitedAt = t;
                            roundTrip.notifyAll();
                        }
                    }
                }
            }

            @Override
            public void viewAccepted(View v) {
                if (System.nanoTime() < windowTo) viewChanges.incrementAndGet(); // windowTo is set at the start
                view = v;
            }
        });
        ch.connect("bench");
        System.err.println("JOINED id=" + myId + " address=" + ch.getAddress());

        // Barrier through the group itself.
        byte[] ready = new byte[HEADER_BYTES];
        ready[0] = KIND_READY;
        ready[1] = (byte) myId;
        long nextReady = 0;
        while (true) {
            synchronized (readyFrom) {
                if (readyCount >= members) break;
            }
            if (System.nanoTime() - bornNs > BARRIER_MS * 1_000_000L) {
                System.err.println("barrier: timed out, view " + view);
                Runtime.getRuntime().halt(4);
            }
            View v = view;
            if (v != null && v.getMembers().size() >= members && System.nanoTime() >= nextReady) {
                ch.send(new Message(null, null, ready.clone()));
                nextReady = System.nanoTime() + 500_000_000L;
            }
            Thread.sleep(5);
        }
        List<Address> ranks = view.getMembers();
        int rank = ranks.indexOf(ch.getAddress());
        long start = System.nanoTime();
        long end = start + (warmupMs + windowMs) * 1_000_000L;
        windowFrom = start + warmupMs * 1_000_000L;
        windowTo = end;
        boolean iSend = latency ? rank == members - 1 : rank >= members - senders;

        joinBound.interrupt();
        haltAt(warmupMs + windowMs + LINGER_MS + ROUND_TRIP_MS + HARD_MARGIN_MS, "hard deadline");

        // Throughput: the flood runs in a thread of its own, so that a sender blocked for
        // good inside send() (SEQUENCER with credit flow control can deadlock on 2.12)
        // still reports what it delivered, with blocked=1.
        final AtomicLong floodSent = new AtomicLong();
        final long floodEnd = end;
        Thread flood = new Thread(() -> {
            try {
                while (System.nanoTime() < floodEnd) {
                    ch.send(new Message(null, null, data(size, (int) floodSent.get()))); // blocks without credits
                    floodSent.incrementAndGet();
                }
            } catch (Exception e) {
                System.err.println("send failed: " + e);
            }
        }, "flood");
        flood.setDaemon(true);
        if (!latency && iSend) flood.start();

        long sent = 0;
        long[] samples = new long[latency && iSend ? 4_000_000 : 0];
        int nSamples = 0;
        while (latency && iSend && System.nanoTime() < end) {
            int seq = (int) sent;
            byte[] buf = data(size, seq);
            long t0 = System.nanoTime();
            synchronized (roundTrip) {
                awaited = seq;
            }
            // sent outside the lock: the delivery thread must never wait for a blocked send
            ch.send(new Message(null, null, buf));
            sent++;
            synchronized (roundTrip) {
                while (awaited != -1) {
                    long left = ROUND_TRIP_MS - (System.nanoTime() - t0) / 1_000_000L;
                    if (left <= 0) {
                        System.err.println("latency: message " + seq + " not delivered back within " + ROUND_TRIP_MS + " ms");
                        Runtime.getRuntime().halt(4);
                    }
                    roundTrip.wait(left);
                }
                if (t0 >= windowFrom && nSamples < samples.length) samples[nSamples++] = awaitedAt - t0;
            }
        }
        long now;
        while ((now = System.nanoTime()) < end) Thread.sleep(Math.max(1, Math.min(50, (end - now) / 1_000_000L)));
        Thread.sleep(LINGER_MS); // stay in the group while the others finish their window

        boolean blocked = flood.isAlive();
        if (!latency) sent = floodSent.get();
        double windowS = windowMs / 1e3;
        if (latency && iSend) {
            Arrays.sort(samples, 0, nSamples);
            System.out.printf("MEMBER id=%d rank=%d mode=lat sent=%d samples=%d p50_us=%.1f p99_us=%.1f view_changes=%d%n", myId, rank,
                    sent, nSamples, percentileUs(samples, nSamples, 0.5), percentileUs(samples, nSamples, 0.99), viewChanges.get());
        } else {
            long d = deliveredInWindow.get();
            System.out.printf("MEMBER id=%d rank=%d mode=%s sent=%d delivered_win=%d window_s=%.3f msgs_per_s=%.1f blocked=%d view_changes=%d%n",
                    myId, rank, latency ? "lat" : "tput", sent, d, windowS, d / windowS, blocked ? 1 : 0, viewChanges.get());
        }
        System.out.flush();
        haltAt(1_000, "close"); // leaving the group can take seconds; the figures are out, do not wait
        ch.close();
        Runtime.getRuntime().halt(0);
    }

    /** A data message: header (kind, member, sequence number), then zeros up to size; fresh each time (JGroups may still hold the last). */
    static byte[] data(int size, int seq) {
        byte[] buf = new byte[size];
        buf[0] = KIND_DATA;
        buf[1] = (byte) myId;
        buf[2] = (byte) (seq >>> 24);
        buf[3] = (byte) (seq >>> 16);
        buf[4] = (byte) (seq >>> 8);
        buf[5] = (byte) seq;
        return buf;
    }

    /** Nearest-rank percentile of the ascending samples (ns), in µs; -1 without samples. */
    static double percentileUs(long[] sorted, int n, double q) {
        if (n == 0) return -1;
        int rank = (int) Math.min(n, Math.max(1, Math.ceil(q * n)));
        return sorted[rank - 1] / 1e3;
    }

    /** Halt the JVM after ms whatever it is doing (a daemon thread; interrupt it to cancel). */
    static Thread haltAt(long ms, String why) {
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(ms);
            } catch (InterruptedException e) {
                return;
            }
            System.err.println("halting: " + why);
            System.out.flush();
            Runtime.getRuntime().halt(5);
        });
        t.setDaemon(true);
        t.start();
        return t;
    }
}
