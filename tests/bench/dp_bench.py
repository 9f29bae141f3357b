#!/usr/bin/python3
"""Mpps of moat-dp on one worker lcore beside dpdk-testpmd on the same vdevs.
  dp_bench.py --build DIR --work DIR [--window S] [--warmup S] [--testpmd PATH]
Prints one JSON object: {"dp_mpps": {...}, "dp_detail": {...}, "notes": [...]}; a part
that cannot run is left out of dp_mpps with a note.

Vdevs, the same for every run (no NIC, EAL never probes PCI):
  port 0  net_pcap0,rx_pcap=FILE,infinite_rx=1  the outside: replays FILE forever. No
          tx_pcap: net_pcap then frees what is sent to it (its tx_drop), so the
          SYN-ACKs moat-dp sends back out of this port cost a free, not a file write.
  port 1  net_null0,no-rx=1                     the inside: receives nothing, frees
          what is sent to it.
moat-dp runs with --pair 1:0 (inside 1, outside 0); testpmd forwards port 0 to port 1.
Both have one pool of 8191 mbufs (cache 256) and bursts of 32; infinite_rx copies each
frame into a fresh mbuf (both pay it).

Rate: received packets per second after a 1 s warm-up, in 1 s slices of a 5 s window;
the figure is the best slice (the machine may be shared: like the other parts' least of
N runs), the window's mean is in dp_detail. moat-dp by its control socket (`stats` rx,
the wall clock here between the answers), testpmd by `show port stats all` (port 0's
Rx-pps since the previous show, TSC-timed).

syn_flood: 4096 random-source 60-byte SYNs to port 80, syn_cookies: always; every
  one is answered with a cookie SYN-ACK out of port 0, no state.
established: 64 legitimate connections interleaved (handshake, 80 data segments of
  6 bytes each, alternately client and server, then FIN/FIN/ACK), syn_cookies: off
  (the flows are tracked through their real handshake; with auto, the replayed SYNs
  -- 64 per pass, thousands per second -- would trip the flood trigger). Replayed,
  each pass is a new connection on the same 4-tuples: the SYN reopens the flow left
  in TIME_WAIT, so every frame is one a real connection sends and passes: 96.5% are
  `established` lookups-and-updates of a live flow, 3.5% handshake (checked below from
  the reasons counted in the window). 64 flows: the table stays in cache; the
  flow_table part measures lookups at 1M flows.
syn_flood_lists: the SYN flood with 100,000 IPv4 and 20,000 IPv6 deny prefixes loaded
  (gen_dp.deny_lists: host routes, /24s, /16 to /31), none covering a flood source or
  the destination: every SYN is still answered, after two list lookups. Target: >= 0.95
  x syn_flood.
dp_mem (rss_mb_1m, rss_mb_10m): moat-dp's resident memory (VmRSS, MiB) once it has
  taken a flood of 1M, then 10M SYNs from as many distinct sources (gen_dp.distinct,
  read once from a file, not replayed), syn_cookies: off so that every SYN makes a flow:
  the tables are fixed-size, the two figures must agree within 5%.

EAL memory: -m 1024 for every run (the lists' LPM tables need ~300 MB), on huge pages
where the machine allows: run as root, 512 pages of 2 MiB are added to vm.nr_hugepages
and a hugetlbfs mounted in the work folder for the bench's runs (both given back at the
end; moat-dp and testpmd alike); else --no-huge, with a note. --no-huge forces that.
dp_detail.hugepages says which. EAL's vector width: --force-max-simd-bitwidth=512 for every
run (moat-dp's cookie lanes use AVX-512 where the CPU has it; EAL's default cap is 256).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import gen_dp  # noqa: E402

FLOOD_SYNS, CONV_FLOWS, CONV_SEGMENTS = 4096, 64, 80
POOL, CACHE = 8191, 256  # moat-dp's DP_MBUFS, DP_MBUF_CACHE


HUGE_PAGES = 512  # of 2 MiB: EAL's -m 1024
huge_dir = None  # a hugetlbfs of ours while the runs go (huge_begin), else None: --no-huge


def eal(prefix, pcap, replay=True):
    rx = f"net_pcap0,rx_pcap={pcap}" + (",infinite_rx=1" if replay else "")
    # --huge-unlink: the pages go back when the process ends, run after run.
    mem = ["--huge-dir", huge_dir, "--huge-unlink"] if huge_dir else ["--no-huge"]
    # The widest vectors the CPU has, for both (EAL caps them at 256 bits unless told):
    # moat-dp's cookie lanes take AVX-512 then; these vdevs have no vector paths.
    return mem + ["--force-max-simd-bitwidth=512",
                  "-m", "1024", "--no-shconf", "--no-pci", "--file-prefix", prefix,
                  "-l", "0,1", "--log-level=lib.eal:error",
                  "--vdev", rx,
                  "--vdev", "net_null0,no-rx=1"]


NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages"


def free_huge_pages():
    for line in open("/proc/meminfo"):
        if line.startswith("HugePages_Free:"):
            return int(line.split()[1])
    return 0


def huge_begin(work):
    """Huge pages for the runs: (mount point, nr_hugepages to give back), or (None, why)."""
    if os.geteuid() != 0:
        return None, "not root"
    try:
        before = int(open(NR_HUGEPAGES).read())
        open(NR_HUGEPAGES, "w").write(str(before + HUGE_PAGES))
    except (OSError, ValueError) as e:
        return None, f"cannot add to vm.nr_hugepages: {e}"
    if free_huge_pages() < HUGE_PAGES:
        open(NR_HUGEPAGES, "w").write(str(before))
        return None, f"the kernel found {free_huge_pages()} of {HUGE_PAGES} free huge pages"
    mnt = os.path.join(work, "huge")
    os.makedirs(mnt, exist_ok=True)
    r = subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        open(NR_HUGEPAGES, "w").write(str(before))
        return None, f"cannot mount hugetlbfs: {r.stderr.strip()}"
    return mnt, before


def huge_end(mnt, before):
    subprocess.run(["umount", mnt], capture_output=True)
    try:
        open(NR_HUGEPAGES, "w").write(str(before))
    except OSError:
        pass


def drop_runtime_dir(prefix):
    # EAL makes its runtime directory even with --no-shconf: remove ours only.
    for base in ("/var/run/dpdk", os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent"), "dpdk")):
        shutil.rmtree(os.path.join(base, prefix), ignore_errors=True)


def last_line(path):
    try:
        lines = [x for x in open(path).read().splitlines() if x.strip()]
        return lines[-1].strip() if lines else "no output"
    except OSError:
        return "no output"


def ask(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        s.sendall(b'{"cmd":"stats"}\n')
        buf = b""
        while not buf.endswith(b"\n"):
            d = s.recv(65536)
            if not d:
                break
            buf += d
    finally:
        s.close()
    return json.loads(buf)


def run_moat_dp(dp, name, work, cfg, pcap, warmup, window):
    prefix = f"moatbench{os.getpid()}{name}"
    sock = os.path.join(work, f"{name}.sock")
    err = open(os.path.join(work, f"{name}.err"), "w")
    p = subprocess.Popen([dp] + eal(prefix, pcap) +
                         ["--", "--config", cfg, "--pair", "1:0", "--socket", sock],
                         stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        deadline = time.monotonic() + 60  # 120k list prefixes parse and build first
        first = None
        while time.monotonic() < deadline and p.poll() is None:
            try:
                first = ask(sock)
                if first["rx"] > 0:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        if not first or first["rx"] <= 0:
            raise RuntimeError(f"moat-dp ({name}) did not start: {last_line(err.name)}")
        time.sleep(warmup)
        samples = [(ask(sock), time.monotonic())]
        for _ in range(int(window)):
            time.sleep(1)
            samples.append((ask(sock), time.monotonic()))
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        try:
            out, _ = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        err.close()
        drop_runtime_dir(prefix)
    if p.returncode != 0:
        raise RuntimeError(f"moat-dp ({name}) exited {p.returncode}: {last_line(err.name)}")
    # rx and reasons are what the rate rests on; other counters as the build names them.
    (a, ta), (b, tb) = samples[0], samples[-1]
    rx = b["rx"] - a["rx"]
    reasons = {k: v - a["reasons"].get(k, 0) for k, v in b["reasons"].items()
               if v - a["reasons"].get(k, 0)}
    detail = {k: v - a[k] for k, v in b.items()
              if isinstance(v, int) and not isinstance(v, bool) and isinstance(a.get(k), int)}
    slices = [(y["rx"] - x["rx"]) / (ty - tx) / 1e6
              for (x, tx), (y, ty) in zip(samples, samples[1:])]
    detail.update(seconds=round(tb - ta, 3), reasons=reasons,
                  mean_mpps=round(rx / (tb - ta) / 1e6, 3),
                  slices_mpps=[round(v, 3) for v in slices])
    return max(slices), detail


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def run_moat_dp_mem(dp, name, work, cfg, pcap, frames):
    """VmRSS of moat-dp once it has read all of pcap (frames) and passed it on."""
    prefix = f"moatbench{os.getpid()}{name}"
    sock = os.path.join(work, f"{name}.sock")
    err = open(os.path.join(work, f"{name}.err"), "w")
    p = subprocess.Popen([dp] + eal(prefix, pcap, replay=False) +
                         ["--", "--config", cfg, "--pair", "1:0", "--socket", sock],
                         stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        deadline, last, rss, st = time.monotonic() + 600, -1, None, {}
        while time.monotonic() < deadline and p.poll() is None:
            time.sleep(1)
            try:
                st = ask(sock)
            except (OSError, ValueError):
                continue
            if st["rx"] >= frames or (st["rx"] == last and last > 0):
                time.sleep(1)  # the last burst's flows in the table
                rss = rss_mb(p.pid)
                break
            last = st["rx"]
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        try:
            p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
        err.close()
        drop_runtime_dir(prefix)
    if rss is None:
        raise RuntimeError(f"moat-dp ({name}) did not take the flood: {last_line(err.name)}")
    return round(rss, 1), {"rx": st.get("rx"), "frames": frames}


def run_testpmd(testpmd, mode, work, pcap, warmup, window):
    prefix = f"moatbench{os.getpid()}tp{mode}"
    log = os.path.join(work, f"testpmd-{mode}.log")
    with open(log, "w") as f:
        p = subprocess.Popen([testpmd] + eal(prefix, pcap) +
                             ["--", "-i", f"--forward-mode={mode}", f"--total-num-mbufs={POOL}",
                              f"--mbcache={CACHE}", "--burst=32"],
                             stdin=subprocess.PIPE, stdout=f, stderr=subprocess.STDOUT, text=True)
        try:
            def cmd(c):
                p.stdin.write(c + "\n")
                p.stdin.flush()

            time.sleep(1)  # EAL and port start-up: commands queue in the pipe meanwhile
            cmd("start")
            time.sleep(warmup)
            cmd("show port stats all")
            for _ in range(int(window)):
                time.sleep(1)
                cmd("show port stats all")
            cmd("stop")
            cmd("quit")
            p.stdin.close()
            p.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            p.kill()
            p.wait()
        finally:
            drop_runtime_dir(prefix)
    text = open(log).read()
    # Per show: a block per port; port 0's "Rx-pps" (since the previous show) is a slice.
    pps, port = [], None
    for line in text.splitlines():
        if "NIC statistics for port" in line:
            port = int(line.split("port")[1].split()[0])
        elif "Rx-pps:" in line and port == 0:
            pps.append(int(line.split()[1]) / 1e6)
    slices = pps[1:]  # the first show measures from start-up
    if len(slices) < int(window) or p.returncode != 0:
        raise RuntimeError(f"no rate (exit {p.returncode}): {last_line(log)}")
    return max(slices), {"mean_mpps": round(sum(slices) / len(slices), 3),
                         "slices_mpps": [round(v, 3) for v in slices]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--window", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--testpmd", default=shutil.which("dpdk-testpmd"))
    ap.add_argument("--only", help="comma-separated runs (syn_flood,...,testpmd_io): the rest left out")
    ap.add_argument("--no-mem", dest="mem", action="store_false",
                    help="leave out dp_mem (two floods of 1M and 10M sources, ~3 min)")
    ap.add_argument("--no-huge", dest="huge", action="store_false",
                    help="EAL without huge pages even where the machine has them")
    a = ap.parse_args()
    global huge_dir
    huge_back = None
    if a.huge:
        huge_dir, huge_back = huge_begin(a.work)
    try:
        run_all(a, huge_back)
    finally:
        if huge_dir:
            huge_end(huge_dir, huge_back)


def run_all(a, huge_why):
    only = set(a.only.split(",")) if a.only else None
    # The machine may be shared: the load when we start, for the reader to judge.
    out = {"dp_mpps": {}, "dp_detail": {"loadavg_1m": os.getloadavg()[0]}, "notes": []}
    if huge_dir:
        out["dp_detail"]["hugepages"] = f"{HUGE_PAGES} x 2 MiB (EAL memory of every run)"
    else:
        out["dp_detail"]["hugepages"] = "none (--no-huge)"
        if a.huge:
            out["notes"].append(f"EAL without huge pages (--no-huge): {huge_why}")
    flood, conv = os.path.join(a.work, "dp-flood.pcap"), os.path.join(a.work, "dp-conv.pcap")
    flood_srcs = gen_dp.flood(flood, FLOOD_SYNS)
    gen_dp.conv(conv, CONV_FLOWS, CONV_SEGMENTS)
    mix = os.path.join(a.work, "dp-payload.pcap")
    gen_dp.conv(mix, CONV_FLOWS, 40, (gen_dp.REQUEST, gen_dp.RESPONSE))
    sig_cfgs = []
    for n in (0, 100, 1000):
        path = os.path.join(a.work, f"dp-sigs{n}.yaml")
        gen_dp.signatures(path, n)
        sig_cfgs.append((f"payload_{n}_sigs", path, mix))
    lists = os.path.join(a.work, "dp-lists.yaml")
    gen_dp.deny_lists(lists, flood_srcs, 100000, 20000)
    cookies, off = os.path.join(a.work, "dp-always.yaml"), os.path.join(a.work, "dp-off.yaml")
    open(cookies, "w").write("mode: dpdk\nsyn_cookies: always\n")
    open(off, "w").write("mode: dpdk\nsyn_cookies: off\n")

    dp = os.path.join(a.build, "dataplane", "moat-dp")
    if not os.access(dp, os.X_OK):
        out["notes"].append("moat-dp part left out: not built (libdpdk-dev missing)")
    else:
        runs = [("syn_flood", cookies, flood), ("syn_flood_lists", lists, flood),
                ("established", off, conv)] + sig_cfgs
        for name, cfg, pcap in runs:
            if only and name not in only:
                continue
            try:
                mpps, d = run_moat_dp(dp, name, a.work, cfg, pcap, a.warmup, a.window)
                out["dp_mpps"][name] = round(mpps, 3)
                out["dp_detail"][name] = d
            except RuntimeError as e:
                out["notes"].append(f"moat-dp {name} left out: {e}")
    if a.mem and (not only or "dp_mem" in only) and os.access(dp, os.X_OK):
        out["dp_mem"] = {}
        for n, key in ((1000000, "rss_mb_1m"), (10000000, "rss_mb_10m")):
            pcap = os.path.join(a.work, "dp-distinct.pcap")
            gen_dp.distinct(pcap, n)
            try:
                out["dp_mem"][key], out["dp_detail"][key] = run_moat_dp_mem(
                    dp, key, a.work, off, pcap, n)
            except RuntimeError as e:
                out["notes"].append(f"dp_mem {key} left out: {e}")
            os.unlink(pcap)
    if not a.testpmd:
        out["notes"].append("testpmd baselines left out: dpdk-testpmd not installed "
                            "(Debian package dpdk-dev; run as root to have it installed)")
    else:
        for mode in ("io", "macswap"):
            if only and f"testpmd_{mode}" not in only:
                continue
            try:
                mpps, d = run_testpmd(a.testpmd, mode, a.work, flood, a.warmup, a.window)
                out["dp_mpps"][f"testpmd_{mode}"] = round(mpps, 3)
                out["dp_detail"][f"testpmd_{mode}"] = d
            except RuntimeError as e:
                out["notes"].append(f"testpmd {mode} left out: {e}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
