#!/usr/bin/env python3
"""Markdown table of a bench/serve_side_by_side.sh run: ours beside the peer at every concurrency.

  python3 bench/serve_table.py /tmp/serve_side_by_side_*.jsonl
"""
import json
import sys


def main():
    rows = [json.loads(line) for path in sys.argv[1:] for line in open(path) if line.strip()]
    by = {(r["server"], r["concurrency"]): r for r in rows}
    levels = sorted({r["concurrency"] for r in rows})
    single = {who: by.get((who, 1), {}).get("itl_p50_ms") for who in ("ours", "peer")}
    print("| clients | server | output tok/s | ratio | req/s | TTFT p50 / p99 ms | TPOT p50 ms | ITL p50 / p99 ms"
          " | p99 ITL / 1-client ITL | peak RSS MB | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in levels:
        for who, name in (("ours", "stablelm serve"), ("peer", "llama-server")):
            r = by.get((who, n))
            if not r:
                continue
            other = by.get(("peer" if who == "ours" else "ours", n))
            ratio = "%.2fx" % (r["out_tok_per_s"] / other["out_tok_per_s"]) if who == "ours" and other else ""
            itl_ratio = "%.1f" % (r["itl_p99_ms"] / single[who]) if single[who] else ""
            print("| %d | %s | %.1f | %s | %.2f | %.0f / %.0f | %.1f | %.1f / %.1f | %s | %.0f | %d |" % (
                n, name, r["out_tok_per_s"], ratio, r["req_per_s"], r["ttft_p50_ms"], r["ttft_p99_ms"],
                r["tpot_p50_ms"], r["itl_p50_ms"], r["itl_p99_ms"], itl_ratio, r["peak_rss_mb"], r["errors"]))


if __name__ == "__main__":
    main()
