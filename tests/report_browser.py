"""report_browser.py - the HTML reports rendered by a real browser.

Simulates a small fMRIPrep-shaped cohort (dummy scans, motion spikes),
runs the BIDS-App participant and group levels, then loads every report in
headless Chromium: the DOM Chromium builds (--dump-dom) must hold each
figure with the expected number of elements (one carpet/FC row and one
coverage bar per ROI, one shaded mark per censored or dummy volume counted
independently from the confounds TSV, one point per loss-log row, ...),
no scripts or external resources, only finite numbers in SVG geometry; the
screenshots must show the figures (not blank; on subject pages the
diverging-map reds and blues are present).  Then a copy of the outputs with
hostile ROI names in every series (the group level needs one set of names),
where one subject also has no sidecar and no confounds, must still get
reports that escape the names and say what is missing; a second copy with
Schaefer-style names must group the ROIs by network.

Skips (77) only when chromium is missing and neither
BRAINSTAGE_REQUIRE_PYTHON nor CI is set.
"""
import csv
import glob
import html.parser
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report_png import read_png  # noqa: E402

BS = os.environ.get("BRAINSTAGE", "brainstage")
REQUIRED = bool(os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") or os.environ.get("CI"))
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
if CHROMIUM is None:
    print("chromium not found (Debian package chromium; tools/install-deps.sh installs it)")
    sys.exit(1 if REQUIRED else 77)

failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def run(*args):
    p = subprocess.run([BS, *args], capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit(f"FAIL: brainstage {' '.join(args)} exited {p.returncode}")
    return p


def chromium(url, *extra):
    with tempfile.TemporaryDirectory() as profile:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
               "--disable-dev-shm-usage", f"--user-data-dir={profile}", *extra, url]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if p.returncode != 0:
        raise SystemExit(f"FAIL: chromium exited {p.returncode}: {p.stderr[-2000:]}")
    return p.stdout


class Dom(html.parser.HTMLParser):
    """Elements of the DOM Chromium serialised: tag, attributes, ancestors' ids/classes."""

    def __init__(self):
        super().__init__()
        self.elements, self.stack = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        el = {"tag": tag, "attrs": a, "svg": next((s for s in reversed(self.stack) if s[0] == "svg"), (None, None))[1],
              "parents": [s[2] for s in self.stack], "parent_ids": [s[3]["attrs"].get("id") for s in self.stack],
              "text": []}
        self.elements.append(el)
        if tag not in ("meta", "link", "br", "img", "input", "hr"):
            self.stack.append((tag, a.get("id") if tag == "svg" else None, a.get("class", ""), el))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if self.stack:
            self.stack[-1][3]["text"].append(data)

    def find(self, tag=None, cls=None, svg=None, parent_cls=None, parent_id=None):
        out = []
        for e in self.elements:
            if tag and e["tag"] != tag:
                continue
            if cls and cls not in e["attrs"].get("class", "").split():
                continue
            if svg and e["svg"] != svg and e["attrs"].get("id") != svg:
                continue
            if parent_cls and not any(parent_cls in p.split() for p in e["parents"]):
                continue
            if parent_id and parent_id not in e["parent_ids"]:
                continue
            out.append(e)
        return out

    def ids(self):
        return {e["attrs"]["id"] for e in self.elements if "id" in e["attrs"]}


def load_dom(path):
    d = Dom()
    d.feed(chromium("file://" + os.path.abspath(path), "--dump-dom"))
    return d


GEOMETRY = ("x", "y", "width", "height", "cx", "cy", "r", "x1", "y1", "x2", "y2")


def check_page_safety(dom, name):
    scripts = dom.find("script")
    check(not scripts, f"{name}: no <script> elements")
    external = [e for e in dom.elements for k in ("src", "href") if k in e["attrs"]
                and re.match(r"^\s*([a-z]+:|//)", e["attrs"][k]) and not e["attrs"][k].startswith("file:")]
    check(not external, f"{name}: no external resources ({external[:1]})")
    bad = [(e["tag"], k, e["attrs"][k]) for e in dom.find() for k in GEOMETRY
           if e["svg"] and k in e["attrs"] and not math.isfinite(float(e["attrs"][k]))]
    check(not bad, f"{name}: every SVG coordinate is a finite number {bad[:1]}")
    paths = [e["attrs"].get("d", "") for e in dom.find("path")]
    check(not any(re.search(r"nan|inf", d, re.I) for d in paths), f"{name}: no NaN/inf in path data")


def check_screenshot(path, name, heatmaps):
    w, h, c, rows = read_png(path)
    step = 3  # every third pixel of every third row is plenty
    colours, nonwhite, red, blue, total = set(), 0, 0, 0, 0
    for y in range(0, h, step):
        r = rows[y]
        for x in range(0, w * c, c * step):
            px = tuple(r[x:x + 3]) if c >= 3 else (r[x],) * 3
            total += 1
            colours.add(px)
            if px != (255, 255, 255):
                nonwhite += 1
            if px[0] > 150 and px[1] < 110 and px[2] < 110:
                red += 1
            if px[2] > 140 and px[0] < 110:
                blue += 1
    check(w > 0 and h > 0 and nonwhite > 0.03 * total and len(colours) > 50,
          f"{name}: screenshot {w}x{h} is not blank ({nonwhite}/{total} non-white samples, {len(colours)} colours)")
    if heatmaps:
        check(red > 50 and blue > 50, f"{name}: screenshot shows the diverging colour map ({red} red, {blue} blue samples)")


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter="\t"))


def count_points(d):
    return len(re.findall(r"[ML]", d))


tmp = tempfile.mkdtemp(prefix="report_browser.")
try:
    fp, out = os.path.join(tmp, "fmriprep"), os.path.join(tmp, "out")
    run("--quiet", "--threads", "2", "--seed", "5", "simulate", fp, "--subjects", "6", "--volumes", "64",
        "--grid-mm", "30", "--effect", "0.4", "--dummy", "2", "--motion", "2")
    run("--quiet", "--threads", "2", "bids", fp, out, "participant", "--pipeline", "fc", "--var", "dummy_scans=2")
    subjects = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(out, "sub-*.html")))
    check(len(subjects) == 6, f"participant level wrote 6 subject reports ({subjects})")

    # ---- participant level: figures of sub-01 against its own files
    ts_path = glob.glob(os.path.join(out, "sub-01", "func", "*_stat-mean_timeseries.tsv"))[0]
    ts = read_tsv(ts_path)
    R, T = len(ts[0]), len(ts) - 1
    # the participant level finds the simulator's label table by BIDS inheritance
    dseg = read_tsv(glob.glob(os.path.join(fp, "atlas", "*_dseg.tsv"))[0])
    check(ts[0] == [r[dseg[0].index("name")] for r in dseg[1:]], f"time series columns named from the dseg table ({ts[0][:2]})")
    conf = read_tsv(glob.glob(os.path.join(fp, "sub-01", "func", "*_desc-confounds_timeseries.tsv"))[0])
    fd = [float(v) if v != "n/a" else 0.0 for v in (r[conf[0].index("framewise_displacement")] for r in conf[1:])]
    dummy = 2
    censored = sum(1 for v in fd[dummy:] if v > 0.5)
    check(T == len(fd) - dummy - censored, f"time series rows {T} = volumes {len(fd)} - {dummy} dummy - {censored} censored")
    check(censored > 0, f"the simulated motion gives censored volumes ({censored})")

    dom = load_dom(os.path.join(out, "sub-01.html"))
    check_page_safety(dom, "sub-01 (participant level)")
    ids = dom.ids()
    for fig in ("carpet-0", "fd-0", "fc-0", "coverage-0", "run-0-summary"):
        check(fig in ids, f"sub-01: element #{fig} present")
    check("group" not in ids, "sub-01: no group section before group level")
    rows = lambda svg: len(dom.find("g", cls="hm-row", svg=svg))  # noqa: E731
    check(rows("carpet-0") == R, f"carpet: {rows('carpet-0')} ROI rows for R = {R}")
    check(rows("fc-0") == R, f"FC heatmap: {rows('fc-0')} rows for R = {R}")
    bars = dom.find("rect", cls="bar", svg="coverage-0")
    check(len(bars) == R, f"coverage: {len(bars)} bars for R = {R}")
    check(len(dom.find("line", cls="threshold", svg="coverage-0")) == 1, "coverage: min_coverage line drawn")
    marks = dom.find("rect", cls="mark", svg="fd-0", parent_cls="marks")
    check(len(marks) == censored + dummy, f"FD trace: {len(marks)} shaded volumes = {censored} censored + {dummy} dummy")
    fd_path = dom.find("path", cls="series", svg="fd-0")
    check(len(fd_path) == 1 and count_points(fd_path[0]["attrs"]["d"]) == len(fd) - 1,
          f"FD trace: one line through {len(fd) - 1} points (the first FD is n/a)")
    groups = dom.find("rect", cls="group", svg="fc-0")
    check(len(groups) == 7, f"FC heatmap: ROIs grouped into the simulator's 7 networks ({len(groups)})")
    check(len(dom.find("rect", cls="cb", svg="fc-0")) == 21, "FC heatmap: colour bar of 21 levels")
    summary = " ".join(t for e in dom.find("td") for t in e["text"])
    check("36P" in summary and "0.01,0.08" in summary and f"{T} kept" in summary and f"{censored} censored" in summary,
          "summary: strategy, band and volume counts")

    # ---- group level: learning curves, metrics, embeddings, predictions
    run("--quiet", "--threads", "2", "--seed", "5", "bids", fp, out, "group", "--label", "group", "--folds", "2",
        "--steps", "3", "--epochs", "2", "--batch", "4")
    g = os.path.join(out, "group")
    gdom = load_dom(os.path.join(out, "group.html"))
    check_page_safety(gdom, "group.html")
    gids = gdom.ids()
    for model, cols in (("brainmass", ("total", "byol", "nce", "mse")), ("brainmae", ("loss",))):
        log = read_tsv(os.path.join(g, f"model-{model}_loss.tsv"))
        for col in cols:
            fid = f"loss-{model}-{col}"
            path = gdom.find("path", cls="series", svg=fid)
            check(fid in gids and len(path) == 1 and count_points(path[0]["attrs"]["d"]) == len(log) - 1,
                  f"group: learning curve {fid} with {len(log) - 1} points")
    evals = sorted(glob.glob(os.path.join(g, "eval-*_metrics.tsv")))
    splits = sum(sum(1 for r in read_tsv(p)[1:] if r[0].isdigit()) for p in evals)
    dots = gdom.find("circle", cls="dot", svg="dots-balanced_acc")
    check(len(dots) == splits, f"group: {len(dots)} per-fold balanced accuracy dots = {splits} splits")
    for p in evals:
        name = os.path.basename(p)[len("eval-"):-len("_metrics.tsv")]
        check(f"metrics-{name}" in gids, f"group: metrics table for {name}")
    for model in ("brainmass", "brainmae"):
        n = len(read_tsv(os.path.join(g, f"features-{model}.tsv"))) - 1
        pts = gdom.find("circle", cls="point", svg=f"pca-{model}")
        check(len(pts) == n, f"group: {model} embedding scatter with {len(pts)} of {n} subjects")
    links = [e["attrs"]["href"] for e in gdom.find("a") if e["attrs"].get("href", "").endswith(".html")]
    check(sorted(links) == [s + ".html" for s in subjects] and all(os.path.exists(os.path.join(out, l)) for l in links),
          f"group: links to the {len(subjects)} subject reports")

    sdom = load_dom(os.path.join(out, "sub-02.html"))
    check_page_safety(sdom, "sub-02 (group level)")
    sids = sdom.ids()
    check("group" in sids and "predictions" in sids, "sub-02: group section with predictions")
    n_pred = sum(1 for p in glob.glob(os.path.join(g, "eval-*_predictions.tsv"))
                 for r in read_tsv(p)[1:] if r[0] == "sub-02")
    shown = len(sdom.find("tr", parent_id="predictions")) - 1  # less the header row
    check(n_pred == 3 and shown == n_pred, f"sub-02: {shown} out-of-fold predictions shown of {n_pred}")
    for model in ("brainmass", "brainmae"):
        check(len(sdom.find("circle", cls="highlight", svg=f"pca-{model}")) == 1, f"sub-02: highlighted in the {model} scatter")
        check(len(sdom.find("g", cls="hm-row", svg=f"embedding-{model}")) == 1, f"sub-02: {model} embedding strip")
    check(any(e["attrs"].get("href") == "group.html" for e in sdom.find("a")), "sub-02: links to group.html")

    # ---- screenshots
    for page in ("sub-02", "group"):
        png = os.path.join(tmp, page + ".png")
        chromium("file://" + os.path.join(out, page + ".html"), f"--screenshot={png}", "--window-size=1100,2400")
        check_screenshot(png, page, heatmaps=page != "group")
        keep = os.environ.get("REPORT_SCREENSHOT_DIR")
        if keep:
            shutil.copy(png, keep)

    # ---- bad input: hostile ROI names, no sidecar, no confounds
    # The group level needs the same ROI names in every subject's series, so
    # the hostile names go into all of them (sub-01 is the damaged one), and
    # the Schaefer-style names into a second copy.
    hostile = ["<script>alert(1)</script>", 'a"b&c', "x\u00e9"] + ts[0][3:]

    def rename_rois(folder, names):
        for path in glob.glob(os.path.join(folder, "sub-*", "func", "*_stat-mean_timeseries.tsv")):
            rows_ = read_tsv(path)
            rows_[0] = names
            with open(path, "w", encoding="utf-8") as f:  # as is: no CSV quoting
                f.write("".join("\t".join(r) + "\n" for r in rows_))

    def group_level(folder, what):
        bare_fp = os.path.join(tmp, "bare")
        os.makedirs(bare_fp, exist_ok=True)
        shutil.copy(os.path.join(fp, "participants.tsv"), bare_fp)
        p = subprocess.run([BS, "--quiet", "bids", bare_fp, folder, "group", "--label", "group", "--folds", "2",
                            "--models", "none"], capture_output=True, text=True)
        check(p.returncode == 0, f"group level with {what} still succeeds (exit {p.returncode}: {p.stderr.strip()})")

    bad_out = os.path.join(tmp, "bad")
    shutil.copytree(out, bad_out)
    rename_rois(bad_out, hostile)
    bad_ts = glob.glob(os.path.join(bad_out, "sub-01", "func", "*_stat-mean_timeseries.tsv"))[0]
    rows_ = read_tsv(bad_ts)
    for r in rows_[1:]:
        r[1] = "n/a"  # a ROI without signal
    with open(bad_ts, "w", encoding="utf-8") as f:
        f.write("".join("\t".join(r) + "\n" for r in rows_))
    os.remove(bad_ts[:-4] + ".json")
    for p in glob.glob(os.path.join(bad_out, "sub-01", "func", "*_relmat.*")):
        os.remove(p)
    # sub-02: a sidecar whose censoring count disagrees with its confounds
    side = glob.glob(os.path.join(bad_out, "sub-02", "func", "*_stat-mean_timeseries.json"))[0]
    meta = json.load(open(side))
    meta["brainstage"]["clean"] = re.sub(r"flagged=(\d+)", lambda m: f"flagged={int(m.group(1)) + 1}",
                                         meta["brainstage"]["clean"])
    json.dump(meta, open(side, "w"))
    group_level(bad_out, "a damaged subject and hostile ROI names")
    # Schaefer-style ROI names carry their network
    sch_out = os.path.join(tmp, "schaefer")
    shutil.copytree(out, sch_out)
    nets = ["Vis", "SomMot", "DorsAttn", "Default"]
    rename_rois(sch_out, [f"7Networks_{'LR'[i % 2]}H_{nets[i % 4]}_{i + 1}" for i in range(R)])
    group_level(sch_out, "Schaefer-style ROI names")
    bdom = load_dom(os.path.join(bad_out, "sub-01.html"))
    check_page_safety(bdom, "sub-01 (damaged)")
    check(not [e for e in bdom.elements if e["tag"] == "script"], "hostile ROI name did not become a <script>")
    names = [e["attrs"].get("data-row") for e in bdom.find("g", cls="hm-row", svg="carpet-0")]
    check(len(names) == R and hostile[0] in names and hostile[1] in names,
          "hostile ROI names are kept as text (escaped) in the carpet rows")
    warnings = " ".join(t for e in bdom.find("p", cls="warning") for t in e["text"])
    check("sidecar" in warnings, f"damaged subject: the report says the sidecar is missing ({warnings[:120]})")
    check("fd-0" not in bdom.ids(), "damaged subject: no FD figure without confounds")
    check(len(bdom.find("rect", cls="flagged", svg="coverage-0")) == 1, "damaged subject: the ROI without signal is flagged")
    d2 = load_dom(os.path.join(bad_out, "sub-02.html"))
    w2 = " ".join(t for e in d2.find("p", cls="warning") for t in e["text"])
    check("not marked" in w2 and len(d2.find("rect", cls="mark", svg="fd-0", parent_cls="marks")) == 0,
          f"sidecar and confounds disagree on censoring: said, no volume marked ({w2[:100]})")
    check(len(d2.find("g", cls="hm-row", svg="carpet-0")) == R, "sub-02: carpet still drawn")
    d3 = load_dom(os.path.join(sch_out, "sub-03.html"))
    check(len(d3.find("rect", cls="group", svg="fc-0")) == 4, "Schaefer-style names: ROIs grouped into their 4 networks")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

print(f"{len(failures)} failed" if failures else "all report checks passed")
sys.exit(1 if failures else 0)
