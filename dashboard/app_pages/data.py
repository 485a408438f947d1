"""What is wrong with a study's data (``automl inspect``), and the decisions that fix it."""

import streamlit as st

from dashboard import actions, data, views
from dashboard.widgets import LOCKED_HELP, choose_study, may_change, viewer

st.title("Data")
study = choose_study()
editable = may_change()
LOCKED = None if editable else LOCKED_HELP
url = data.storage_url()
store = data.store()
report = data.data_report(url, study)
if report is None:
    st.info(
        f"**Study {study} has not been inspected yet.** Run `automl inspect --study {study}` "
        "to find duplicates, copies between training and test, likely label errors and odd "
        "images; they appear here."
    )
    st.stop()
summary = report.summary
counts = summary.get("counts", {})
cols = st.columns(6)
cols[0].metric("Images", f"{report.images:,}")
cols[1].metric("Classes", len(summary.get("classes", {})))
cols[2].metric("Exact copies", f"{counts.get('exact', 0):,}", help="groups of identical images")
cols[3].metric("Near copies", f"{counts.get('near', 0):,}", help="pairs")
cols[4].metric("Likely label errors", f"{counts.get('label', 0):,}")
cols[5].metric("Odd images", f"{counts.get('outlier', 0):,}")
st.markdown(views.leakage_text(report))
fixes = f", with overrides `{report.overrides_sha256[:12]}`" if report.overrides_sha256 else ""
st.caption(f"Inspected {report.created_at:%Y-%m-%d %H:%M} UTC{fixes}.")
if model_text := views.label_model_text(report):
    (st.caption if report.summary["label_model"].get("reliable", True) else st.warning)(model_text)

left, right = st.columns([3, 2])
left.dataframe(views.class_frame(report), hide_index=True, width="stretch")
if balance := summary.get("imbalance"):
    left.caption(
        f"Largest class {balance['largest']}, smallest {balance['smallest']}: "
        f"{balance['ratio']:g}x as many images."
    )
with right:
    skipped = summary.get("skipped", [])
    with st.expander(f"{len(skipped):,} files skipped"):
        st.dataframe(skipped, hide_index=True, width="stretch")
    with st.expander("How each finding is made"):
        for kind, method in summary.get("methods", {}).items():
            st.markdown(f"- **{kind}**: {method}")

decisions = data.data_overrides(url, study)
decided = {d.path: d for d in decisions}
classes = list(summary.get("classes", {}))
tab = (
    st.segmented_control(
        "Findings",
        list(views.TABS),
        format_func=lambda t: f"{views.TABS[t]} ({views.tab_total(report, t):,})",
        default="across",
        key="data_tab",
    )
    or "across"
)
total = views.tab_total(report, tab)
pages = views.page_count(total)
page = st.number_input(f"Page (of {pages})", 1, pages, 1, key=f"data_page_{tab}") - 1
findings = [
    finding
    for kind, offset, limit in views.page_slices(report, tab, page)
    for finding in data.data_findings(url, study, kind, offset, limit, report.created_at)
]
if not findings:
    st.info("Nothing of this kind was found.")


def decide(path: str, action: str, label: str | None = None) -> None:
    """A button's change, checked again here: a disabled button only looks shut."""
    if not editable:
        return
    try:
        actions.decide(store, study, path, action, label, classes, viewer())
    except ValueError as exc:
        st.error(str(exc))
        return
    data.refresh()
    st.rerun()


images_missing = False
for i, finding in enumerate(findings):
    key = f"{tab}-{page}-{i}"
    with st.container(border=True):
        pictures, words, controls = st.columns([3, 3, 2])
        thumbs = data.thumbnails(report.images_file, tuple(finding.rows))
        if thumbs:
            pictures.image(
                thumbs, caption=[f"{p} ({s})" for p, s in zip(finding.paths, finding.splits)]
            )
        else:
            images_missing = True
        words.markdown(views.finding_caption(finding))
        for path in finding.paths:
            if path in decided:
                d = decided[path]
                words.caption(f"{path}: {d.action}" + (f" as {d.label}" if d.label else ""))
        # A copy's test (or validation) image is the one to drop by default: train keeps it.
        order = sorted(range(len(finding.paths)), key=lambda k: finding.splits[k] == "train")
        target = (
            controls.selectbox(
                "Image",
                [finding.paths[k] for k in order],
                key=f"target-{key}",
                label_visibility="collapsed",
            )
            if len(finding.paths) > 1
            else finding.paths[0]
        )
        row = controls.columns(2)
        if row[0].button("Keep", key=f"keep-{key}", disabled=not editable, help=LOCKED):
            decide(target, "keep")
        if row[1].button("Exclude", key=f"exclude-{key}", disabled=not editable, help=LOCKED):
            decide(target, "exclude")
        suggested = finding.suggested if finding.suggested in classes else None
        label = controls.selectbox(
            "Relabel as",
            classes,
            index=classes.index(suggested) if suggested else 0,
            key=f"label-{key}",
        )
        if controls.button(
            f"Relabel as {label}", key=f"relabel-{key}", disabled=not editable, help=LOCKED
        ):
            decide(target, "relabel", label)
        if target in decided and controls.button(
            "Forget decision", key=f"clear-{key}", disabled=not editable, help=LOCKED
        ):
            decide(target, "clear")
if images_missing:
    st.warning(
        f"The images file `{report.images_file}` is gone (a cleared cache?): run "
        f"`automl inspect --study {study}` again to see the pictures."
    )

st.subheader(f"Decisions ({len(decisions):,})")
if decisions:
    st.dataframe(views.decisions_frame(decisions), hide_index=True, width="stretch")
    st.download_button(
        "Download overrides CSV",
        views.overrides_csv(decisions),
        file_name=f"{study}-overrides.csv",
        mime="text/csv",
        key="download_overrides",
    )
    st.caption(
        f"The next search runs on the fixed data: `automl search --study {study}-fixed "
        f"--overrides {study}-overrides.csv` with the same --task or --data-dir."
    )
else:
    st.caption("Keep, exclude or relabel images above; the decisions are exported here as CSV.")
