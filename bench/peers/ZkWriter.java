import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.zookeeper.AsyncCallback;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

/**
 * The load client of `npm run bench:peers -- --only zookeeper`: durable writes to a
 * 3-server ZooKeeper ensemble (forceSync=yes: a write is acknowledged once a majority
 * logged and fsynced it), with the accounting of durable.ts.
 *
 *   java -cp CLASSES:zookeeper.jar ZkWriter MODE SERVERS SIZE WINDOW WARMUP_MS WINDOW_MS
 *
 * SERVERS: host:port,... one per writer; writer i opens a session with SERVERS[i] only
 * (a follower forwards the write to the leader, as ZooKeeper does for any client).
 * Every writer first creates its znodes /bench/w<i>/<k>, k < KEYS (asynchronously,
 * bounded), then all start together.
 * MODE tput: each writer keeps WINDOW asynchronous setData calls outstanding, on
 *            /bench/w<i>/<n mod KEYS> with SIZE-byte data, for WARMUP_MS + WINDOW_MS;
 *            it counts the ones acknowledged (rc OK) inside the window.
 * MODE lat:  one writer (SERVERS has one entry), one synchronous setData at a time;
 *            p50/p99 (nearest rank) of those started inside the window.
 * Output: one "WRITER key=value ..." line per writer on standard output; errors = calls
 * that failed or were not answered (the driver makes such a repetition NaN). Bounds:
 * connecting and creating within SETUP_MS, a window slot or a synchronous write within
 * CALL_MS, draining within CALL_MS, and the JVM halts itself at a hard deadline
 * whatever happens; the driver kills it at its own deadline as well.
 */
public final class ZkWriter {
    static final int KEYS = 1000;
    static final long SETUP_MS = 60_000, CALL_MS = 10_000, HARD_MARGIN_MS = 20_000;
    static final int SESSION_TIMEOUT_MS = 30_000;

    public static void main(String[] args) throws Exception {
        if (args.length != 6 || !(args[0].equals("tput") || args[0].equals("lat"))) {
            System.err.println("usage: ZkWriter tput|lat SERVERS SIZE WINDOW WARMUP_MS WINDOW_MS");
            System.exit(2);
        }
        boolean latency = args[0].equals("lat");
        String[] servers = args[1].split(",");
        int size = Integer.parseInt(args[2]);
        int window = Integer.parseInt(args[3]);
        long warmupMs = Long.parseLong(args[4]);
        long windowMs = Long.parseLong(args[5]);
        int writers = servers.length;
        haltAt(SETUP_MS + warmupMs + windowMs + 2 * CALL_MS + HARD_MARGIN_MS, "hard deadline");

        // Sessions, one per writer, each with its own server.
        ZooKeeper[] zk = new ZooKeeper[writers];
        for (int i = 0; i < writers; i++) {
            CountDownLatch connected = new CountDownLatch(1);
            zk[i] = new ZooKeeper(servers[i], SESSION_TIMEOUT_MS, e -> {
                if (e.getState() == Watcher.Event.KeeperState.SyncConnected) connected.countDown();
            });
            if (!connected.await(SETUP_MS, TimeUnit.MILLISECONDS)) fail("no session with " + servers[i] + " within " + SETUP_MS + " ms");
        }
        long setupBy = System.nanoTime() + SETUP_MS * 1_000_000L;
        createIgnoringExisting(zk[0], "/bench");
        for (int i = 0; i < writers; i++) {
            createIgnoringExisting(zk[i], "/bench/w" + i);
            createKeys(zk[i], i, window, setupBy);
        }
        System.err.println("READY writers=" + writers);

        byte[] data = new byte[size];
        Arrays.fill(data, (byte) 'a');
        long start = System.nanoTime();
        long from = start + warmupMs * 1_000_000L;
        long end = from + windowMs * 1_000_000L;
        if (latency) {
            System.out.println(latencyWriter(zk[0], data, from, end));
        } else {
            List<Thread> threads = new ArrayList<>();
            String[] lines = new String[writers];
            for (int i = 0; i < writers; i++) {
                final int id = i;
                Thread t = new Thread(() -> lines[id] = throughputWriter(zk[id], id, data, window, from, end, windowMs), "writer-" + i);
                threads.add(t);
                t.start();
            }
            for (Thread t : threads) t.join(warmupMs + windowMs + 2 * CALL_MS + 5_000);
            for (int i = 0; i < writers; i++) System.out.println(lines[i] != null ? lines[i] : "WRITER id=" + i + " mode=tput errors=1 first_error=writer_did_not_finish");
        }
        System.out.flush();
        haltAt(2_000, "close"); // closing sessions can take a while; the figures are out
        for (ZooKeeper z : zk) z.close();
        Runtime.getRuntime().halt(0);
    }

    static String path(int writer, long n) {
        return "/bench/w" + writer + "/" + (n % KEYS);
    }

    /** Writer `id`'s KEYS znodes, created asynchronously with `window` outstanding; an existing one is fine. */
    static void createKeys(ZooKeeper z, int id, int window, long byNs) throws Exception {
        Semaphore slots = new Semaphore(window);
        AtomicReference<String> error = new AtomicReference<>();
        AsyncCallback.StringCallback cb = (rc, p, ctx, name) -> {
            if (rc != KeeperException.Code.OK.intValue() && rc != KeeperException.Code.NODEEXISTS.intValue()) error.compareAndSet(null, p + ": " + KeeperException.Code.get(rc));
            slots.release();
        };
        for (int k = 0; k < KEYS; k++) {
            if (!slots.tryAcquire(Math.max(1, (byNs - System.nanoTime()) / 1_000_000L), TimeUnit.MILLISECONDS)) fail("creating the znodes took too long");
            z.create(path(id, k), new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT, cb, null);
        }
        if (!slots.tryAcquire(window, Math.max(1, (byNs - System.nanoTime()) / 1_000_000L), TimeUnit.MILLISECONDS)) fail("creating the znodes took too long");
        if (error.get() != null) fail("create " + error.get());
    }

    static void createIgnoringExisting(ZooKeeper z, String p) throws Exception {
        try {
            z.create(p, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        } catch (KeeperException.NodeExistsException e) {
            // another writer made it
        }
    }

    /** WINDOW setData calls outstanding until the end; the WRITER line. */
    static String throughputWriter(ZooKeeper z, int id, byte[] data, int window, long from, long end, long windowMs) {
        Semaphore slots = new Semaphore(window);
        AtomicLong acked = new AtomicLong(), ackedWin = new AtomicLong(), errors = new AtomicLong();
        AtomicReference<String> firstError = new AtomicReference<>();
        AsyncCallback.StatCallback cb = (rc, p, ctx, stat) -> {
            long t = System.nanoTime();
            if (rc == KeeperException.Code.OK.intValue()) {
                acked.incrementAndGet();
                if (t >= from && t < end) ackedWin.incrementAndGet();
            } else {
                errors.incrementAndGet();
                firstError.compareAndSet(null, String.valueOf(KeeperException.Code.get(rc)));
            }
            slots.release();
        };
        long n = 0;
        try {
            while (System.nanoTime() < end) {
                if (!slots.tryAcquire(CALL_MS, TimeUnit.MILLISECONDS)) {
                    errors.incrementAndGet();
                    firstError.compareAndSet(null, "no_answer_within_" + CALL_MS + "_ms");
                    break;
                }
                z.setData(path(id, n++), data, -1, cb, null);
            }
            // drain: every outstanding call answered (or counted as an error)
            if (!slots.tryAcquire(window, CALL_MS, TimeUnit.MILLISECONDS)) {
                errors.addAndGet(window - slots.availablePermits());
                firstError.compareAndSet(null, "not_drained_within_" + CALL_MS + "_ms");
            }
        } catch (InterruptedException e) {
            errors.incrementAndGet();
            firstError.compareAndSet(null, "interrupted");
        }
        double s = windowMs / 1e3;
        String fe = firstError.get();
        return String.format(Locale.ROOT, "WRITER id=%d mode=tput sent=%d acked=%d acked_win=%d window_s=%.3f acks_per_s=%.1f errors=%d%s", id, n, acked.get(), ackedWin.get(), s,
                ackedWin.get() / s, errors.get(), fe == null ? "" : " first_error=" + fe);
    }

    /** One synchronous setData at a time until the end; the WRITER line. */
    static String latencyWriter(ZooKeeper z, byte[] data, long from, long end) {
        long[] samples = new long[4_000_000];
        int nSamples = 0;
        long n = 0, errors = 0;
        String firstError = null;
        while (System.nanoTime() < end) {
            long t0 = System.nanoTime();
            try {
                z.setData(path(0, n++), data, -1);
                long dt = System.nanoTime() - t0;
                if (t0 >= from && nSamples < samples.length) samples[nSamples++] = dt;
            } catch (Exception e) {
                errors++;
                if (firstError == null) firstError = e.getClass().getSimpleName();
            }
        }
        Arrays.sort(samples, 0, nSamples);
        return String.format(Locale.ROOT, "WRITER id=0 mode=lat sent=%d samples=%d p50_us=%s p99_us=%s errors=%d%s", n, nSamples, percentileUs(samples, nSamples, 0.5),
                percentileUs(samples, nSamples, 0.99), errors, firstError == null ? "" : " first_error=" + firstError);
    }

    /** Nearest-rank percentile of the ascending samples (ns), in µs with one decimal; "-" without samples. */
    static String percentileUs(long[] sorted, int n, double q) {
        if (n == 0) return "-";
        int rank = (int) Math.min(n, Math.max(1, Math.ceil(q * n)));
        return String.format(Locale.ROOT, "%.1f", sorted[rank - 1] / 1e3);
    }

    static void fail(String why) {
        System.err.println("ZkWriter: " + why);
        System.out.flush();
        Runtime.getRuntime().halt(4);
    }

    /** Halt the JVM after ms whatever it is doing (a daemon thread). */
    static void haltAt(long ms, String why) {
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
    }
}
