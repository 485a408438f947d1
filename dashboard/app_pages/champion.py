"""One trial in depth, and the champion: promote it, export it, download it."""

import streamlit as st

from dashboard import actions, data, views
from dashboard.widgets import LOCKED_HELP, choose_study, fmt_pct, may_change

FORMATS = {
    "keras": "Keras (.keras)",
    "savedmodel": "TensorFlow SavedModel (zip)",
    "tflite": "TensorFlow Lite (.tflite)",
    "onnx": "ONNX (.onnx)",
}

st.title("Trial detail & champion")
study = choose_study()
editable = may_change()
LOCKED = None if editable else LOCKED_HELP
url = data.storage_url()
store = data.store()


def show_gallery(evaluation, clicked) -> None:
    """The test images of a confusion-matrix cell (clicked, or picked) or a class's most
    confident mistakes, and, for one of them, a saliency map beside its probabilities."""
    names = evaluation.class_names
    if not evaluation.images_file:
        st.caption("Evaluate again to see the test images behind these numbers.")
        return
    points = (clicked or {}).get("selection", {}).get("points", []) if clicked else []
    if points and points[0].get("customdata"):
        true, predicted = points[0]["customdata"][:2]
        st.session_state["cell_true"], st.session_state["cell_predicted"] = (
            names[true],
            names[predicted],
        )
    default = views.most_confused(evaluation)
    st.session_state.setdefault("cell_true", names[default[0]])
    st.session_state.setdefault("cell_predicted", names[default[1]])
    st.markdown("**Test images** — click a cell of the matrix, or pick one:")
    left, middle, right = st.columns(3)
    mode = left.radio("Show", ["A cell", "A class's mistakes"], key="gallery_mode", horizontal=True)
    true = middle.selectbox("True class", names, key="cell_true")
    predicted = (
        right.selectbox("Predicted as", names, key="cell_predicted") if mode == "A cell" else None
    )
    shown = data.test_predictions(
        url, study, number, names.index(true),
        names.index(predicted) if predicted is not None else None, evaluation.evaluated_at,
    )  # fmt: skip
    if not shown:
        st.info("No test images there.")
        return
    first = evaluation.images_first_row or 0
    thumbs = data.thumbnails(evaluation.images_file, tuple(first + p.row for p in shown))
    if not thumbs:
        st.warning(f"The test images file `{evaluation.images_file}` is gone: evaluate again.")
        return
    st.image(thumbs, caption=[views.prediction_caption(p, names) for p in shown], width=112)
    picked = st.selectbox(
        "Explain",
        shown,
        format_func=lambda p: views.prediction_caption(p, names),
        key="explain_pick",
    )
    if st.button("Show why (saliency map)", key="explain"):
        with st.spinner("Loading the model and computing its saliency map…"):
            try:
                st.session_state["explained"] = (
                    study, number, picked.row,
                    actions.explain(store, study, number, evaluation.images_file, first + picked.row),
                )  # fmt: skip
            except Exception as exc:  # shown, never a traceback
                st.error(f"Could not explain it: {exc}")
    explained = st.session_state.get("explained")
    if explained and explained[:3] == (study, number, picked.row):
        result = explained[3]
        image_col, chart_col = st.columns([1, 2])
        image_col.image([result.image, result.overlay], caption=["image", "saliency"])
        image_col.caption(result.method)
        chart_col.plotly_chart(
            views.probabilities_figure(names, result.probabilities, result.target), width="stretch"
        )


stamp = data.study_stamp(url, study)
if stamp.n_trials == 0:
    st.info(f"Study **{study}** has no trials yet.")
    st.stop()
champion = data.champion(url, study)
best = data.top_trials(url, study, data.COMPLETED, "value", 1, stamp)
preferred = champion.number if champion else (best[0].number if best else stamp.n_trials - 1)
options = data.picker_trials(url, study, stamp, [preferred])
picked = st.selectbox(
    "Trial",
    options,
    index=options.index(preferred),
    format_func=lambda n: (
        f"trial {n}" + (" (champion)" if champion and n == champion.number else "")
    ),
    accept_new_options=True,
    key="trial_picker",
    help="On a big study the best 200 and the latest 20 are listed: type any other number.",
)
numbers, _ = views.trial_numbers([picked])
found = data.trials_by_numbers(url, study, tuple(numbers), stamp)
if not found:
    st.warning(f"Not a trial of **{study}**: {picked}.")
    st.stop()
trial = found[0]
number = trial.number

cols = st.columns(5)
cols[0].metric("State", trial.state.value.title())
cols[1].metric("Val accuracy", fmt_pct(trial.value))
evaluation = data.evaluation(url, study, number)
cols[2].metric("Test accuracy", fmt_pct(evaluation.accuracy if evaluation else trial.test_accuracy))
cols[3].metric("Parameters", f"{trial.param_count:,}" if trial.param_count else "—")
cols[4].metric(
    "Epochs", f"{trial.epochs_run}" + (f" (best {trial.best_epoch})" if trial.best_epoch else "")
)
if trial.reason:
    st.caption(f"Note: {trial.reason}")

left, right = st.columns(2)
with left:
    st.subheader("Parameters")
    st.dataframe(views.params_comparison([trial]), width="stretch")
with right:
    epochs = data.epochs_frame(url, study, (number,), stamp)
    if not epochs.empty:
        st.plotly_chart(views.curves_figure(epochs, [trial], "val_accuracy"), width="stretch")

st.subheader("Test-set evaluation")
artifact = data.artifact(url, study, number, stamp)
if evaluation:
    st.write(
        f"Accuracy **{fmt_pct(evaluation.accuracy)}**, macro-F1 **{fmt_pct(evaluation.macro_f1)}**"
        + (
            f", {evaluation.latency_ms_batch1:.1f} ms per image at batch 1"
            if evaluation.latency_ms_batch1
            else ""
        )
        + (
            f"; {evaluation.cv_folds}-fold CV {fmt_pct(evaluation.cv_mean)} ± {fmt_pct(evaluation.cv_std)}"
            if evaluation.cv_folds
            else ""
        )
    )
    eleft, eright = st.columns([2, 3])
    eleft.dataframe(
        views.per_class_frame(evaluation),
        hide_index=True,
        width="stretch",
        column_config={
            c: st.column_config.NumberColumn(format="%.3f") for c in ("Precision", "Recall", "F1")
        },
    )
    clicked = eright.plotly_chart(
        views.confusion_figure(evaluation),
        width="stretch",
        on_select="rerun",
        selection_mode="points",
        key="confusion_click",
    )
    show_gallery(evaluation, clicked)
elif artifact:
    # Each action checks the viewer's right where it acts: a disabled button only looks shut.
    if (
        st.button("Evaluate on the test split", key="evaluate", disabled=not editable, help=LOCKED)
        and editable
    ):
        with st.spinner("Scoring the saved model on the held-out test split…"):
            actions.evaluate(store, study, number)
        data.refresh()
        st.rerun()
else:
    st.info(
        "This trial kept no saved model (only the best few are kept), so it cannot be evaluated."
    )

st.subheader("Saved model")
if artifact:
    st.write(
        f"`{artifact.location}` · {artifact.size_bytes / 1e6:.2f} MB · sha256 `{artifact.sha256[:16]}…` · saved {artifact.created_at:%Y-%m-%d %H:%M} UTC"
    )
else:
    st.write("None kept for this trial.")

st.subheader("Champion")
if champion:
    st.write(
        f"The current champion is **trial {champion.number}** ({fmt_pct(champion.value)} validation accuracy)."
    )
else:
    st.write("No champion yet: promote a trial to make it the study's model of record.")
if artifact and trial.state.value == "COMPLETE" and not (champion and champion.number == number):
    note = st.text_input("Note for the promotion history (optional)", key="promote_note")
    if (
        st.button(
            f"Promote trial {number} to champion",
            type="primary",
            key="promote",
            disabled=not editable,
            help=LOCKED,
        )
        and editable
    ):
        with st.spinner("Evaluating and promoting…"):
            promotion = actions.promote(store, study, number, note)
        data.refresh()
        st.session_state["flash"] = f"Trial {promotion.trial_number} is now the champion."
        st.rerun()
if flash := st.session_state.pop("flash", None):
    st.success(flash)

if artifact and trial.state.value == "COMPLETE":
    st.subheader("Export")
    fmt = st.selectbox("Format", list(FORMATS), format_func=FORMATS.get, key="export_format")
    if (
        st.button("Export and verify", key="export", disabled=not editable, help=LOCKED)
        and editable
    ):
        with st.spinner(
            f"Exporting trial {number} as {fmt} and checking it against the Keras model…"
        ):
            try:
                st.session_state["exported"] = (
                    study,
                    number,
                    fmt,
                    actions.export(store, study, number, fmt),
                )
            except Exception as exc:  # shown, never a traceback: the export engine says what failed
                st.error(f"Export failed: {exc}")
    exported = st.session_state.get("exported")
    if exported and exported[:3] == (study, number, fmt):
        file = exported[3]
        st.success(f"{file.summary} sha256 `{file.sha256}`")
        st.download_button(
            f"Download {file.file_name}",
            file.data,
            file_name=file.file_name,
            mime=file.mime,
            key="download",
        )
        with st.expander("Model card"):
            st.markdown(file.card_markdown)

history = data.promotions(url, study)
if history:
    st.subheader("Promotion history")
    st.dataframe(
        [
            {
                "Promoted (UTC)": p.promoted_at.strftime("%Y-%m-%d %H:%M:%S"),
                "Trial": p.trial_number,
                "Previous champion": p.previous_trial_number,
                "Note": p.note or "",
            }
            for p in history
        ],
        hide_index=True,
        width="stretch",
    )
