"""Benchmark: a 1,000-label A4 (Avery L7160) PDF against generating its 1,000 QR matrices.

Issue 3: "a 1,000-label A4 PDF, reported as a ratio to generating the same 1,000 QR matrices
alone in the same run (target at most 2x) and its peak memory".

Run: ``python benchmarks/labels_bench.py [--labels 1000] [--repeat 3] [--out FILE.pdf]``

What is timed (wall clock, ``time.perf_counter``; best of ``--repeat`` runs, runs of the two
sides interleaved so machine noise hits both):

- baseline: the 1,000 QR matrices alone, made with the ``qrcode`` library's own API
  (``QRCode(error_correction=M).add_data(bytes); make(fit=True); get_matrix()``), and also
  with fleet's ``make_qr`` (same library, plus the UTF-8 ECI header for non-ASCII payloads);
- the PDF: ``render_labels(specs, "a4-l7160")``, which builds every QR matrix itself (the
  matrix cache is cleared before each run), lays out the text and writes the PDF.

Payloads are all distinct (1,000 devices, one phone sticker each) so no label reuses another's
matrix; a second figure renders the realistic mix (250 devices x phone, box, District copy,
Partner copy), where labels of one device share a matrix.

Peak memory is measured in a fresh child process per figure: Python heap peak with
``tracemalloc`` (a separate, slower run) and the process's peak RSS (``ru_maxrss``, KiB on
Linux) of an untraced run, minus the RSS after imports.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import qrcode
from qrcode import util as qr_util

from fleet.labels import render
from fleet.labels.payload import DeviceLabelInfo, make_qr
from fleet.labels.render import LabelSpec, labels_for_device, render_labels

HOLDERS = ["Amina Diallo", "Ngozi Ọkafọ̀", "Алексей Смирнов", "Ελένη Παπαδοπούλου", "Moussa Sow"]
DISTRICTS = ["Dakar", "Enugu East", "Thiès", "Sokoto North", "Kaolack"]


def device(i: int) -> DeviceLabelInfo:
    return DeviceLabelInfo(
        asset_tag=f"PH-{i:06d}",
        holder=HOLDERS[i % len(HOLDERS)],
        msisdn=f"+2217712{i:05d}",
        district=DISTRICTS[i % len(DISTRICTS)],
        box_number=f"{i:06d}",
        model="Samsung Galaxy A14",
    )


def distinct_specs(n: int) -> list[LabelSpec]:
    return [labels_for_device(device(i), kinds=("phone",))[0] for i in range(n)]


def mixed_specs(n: int) -> list[LabelSpec]:
    specs: list[LabelSpec] = []
    i = 0
    while len(specs) < n:
        specs += labels_for_device(device(i))
        i += 1
    return specs[:n]


def qr_matrices_qrcode(payloads: list[str]) -> None:
    for p in payloads:
        qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
        qr.add_data(qr_util.QRData(p.encode("utf-8"), mode=qr_util.MODE_8BIT_BYTE))
        qr.make(fit=True)
        qr.get_matrix()


def qr_matrices_fleet(payloads: list[str]) -> None:
    for p in payloads:
        make_qr(p).get_matrix()


def render_pdf(specs: list[LabelSpec]) -> bytes:
    render._matrix.cache_clear()
    return render_labels(specs, "a4-l7160")


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def _child(kind: str, n: int, traced: bool, queue) -> None:
    specs = distinct_specs(n) if kind == "distinct" else mixed_specs(n)
    render_pdf(specs[:5])  # fonts registered, modules warm
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if traced:
        tracemalloc.start()
        pdf = render_pdf(specs)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        queue.put({"tracemalloc_peak": peak, "bytes": len(pdf)})
    else:
        pdf = render_pdf(specs)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        queue.put({"maxrss_kib": rss, "base_rss_kib": base_rss, "bytes": len(pdf)})


def memory(kind: str, n: int) -> dict:
    ctx = mp.get_context("spawn")
    result: dict = {}
    for traced in (False, True):
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(kind, n, traced, queue))
        proc.start()
        result.update(queue.get(timeout=600))
        proc.join(timeout=60)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write the 1,000-label PDF here")
    args = parser.parse_args(argv)
    n = args.labels

    specs = distinct_specs(n)
    mixed = mixed_specs(n)
    payloads = [s.payload for s in specs]
    render_pdf(specs[:5])  # warm-up: font registration, imports
    qr_matrices_qrcode(payloads[:5])

    t_qrcode, t_fleet_qr, t_pdf, t_mixed = [], [], [], []
    for _ in range(args.repeat):
        t_qrcode.append(timed(qr_matrices_qrcode, payloads))
        t_fleet_qr.append(timed(qr_matrices_fleet, payloads))
        t_pdf.append(timed(render_pdf, specs))
        t_mixed.append(timed(render_pdf, mixed))
    pdf = render_pdf(specs)
    if args.out:
        args.out.write_bytes(pdf)
    pages = -(-n // render.FORMATS["a4-l7160"].per_sheet)

    best = min
    print(f"labels: {n} on {pages} A4 L7160 sheets; PDF {len(pdf) / 1e6:.2f} MB")
    print(f"runs: best of {args.repeat} (all runs in seconds below)")
    print(
        f"QR matrices alone (qrcode API):    {best(t_qrcode):7.3f} s  "
        f"{[round(t, 3) for t in t_qrcode]}"
    )
    print(
        f"QR matrices alone (fleet make_qr): {best(t_fleet_qr):7.3f} s  "
        f"{[round(t, 3) for t in t_fleet_qr]}"
    )
    print(
        f"A4 PDF, 1 label per device:        {best(t_pdf):7.3f} s  {[round(t, 3) for t in t_pdf]}"
    )
    print(
        f"A4 PDF, 4 labels per device:       {best(t_mixed):7.3f} s  "
        f"{[round(t, 3) for t in t_mixed]}"
    )
    ratio = best(t_pdf) / best(t_qrcode)
    print(f"ratio PDF / QR matrices (best):    {ratio:7.2f}x  (target <= 2x)")
    print(
        "ratio PDF / QR matrices (median):  "
        f"{statistics.median(t_pdf) / statistics.median(t_qrcode):7.2f}x"
    )
    print(f"ratio mixed PDF / QR matrices:     {best(t_mixed) / best(t_qrcode):7.2f}x")
    print(f"per label: {best(t_pdf) / n * 1000:.2f} ms")
    for kind in ("distinct", "mixed"):
        m = memory(kind, n)
        print(
            f"memory ({kind}): tracemalloc peak {m['tracemalloc_peak'] / 2**20:.1f} MiB; "
            f"peak RSS {m['maxrss_kib'] / 1024:.1f} MiB "
            f"(+{(m['maxrss_kib'] - m['base_rss_kib']) / 1024:.1f} MiB over the RSS after imports)"
        )
    return 0 if ratio <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
