"""The claims whose regime must be reached first, and the best values they
rest on: learning rates (Fig. A.1, Fig. 3C) and label smoothing (Fig. A.2).

Each check is a function of the results -> `[findings.Part]` or
`findings.NotTested` (the precondition and why it failed: no learning rate
clearly past the λ = 0 optimum, an optimum at an end of its grid, no
augmentation, no learning rate to tune, no generalization gap). Best values
are picked on the selection seeds and the claims tested on the others
(`SweepResults.selection_seeds`); where the sweep is too small to split,
each part is marked biased.
"""

from keras_rlr.report import findings as f
from keras_rlr.report.findings import TEST_ACC, NotTested

# Choice (the paper gives no number): a change of test accuracy within ±1
# accuracy point counts as "no improvement" / "marginal" / "no significant
# effect"; within ±2 points of random-label accuracy as "no significant
# increase in memorization"; a drop of test accuracy of 2 points or more as
# "dramatic".
TEST_MARGIN = 0.01
RLA_MARGIN = 0.02
DROP_MARGIN = 0.02
# Choice: a learning rate at which some seed's train class accuracy at the
# smallest λ is below this fraction of the best rate's (mean over every seed)
# did not train: it diverged or collapsed onto one class there. A.3's claims
# are about networks that learn, so such a rate is named and left out of the
# comparisons (two collapsed networks agree exactly and would "confirm" any
# claim of no effect). Like the other preconditions it reads every seed: it
# looks at class training accuracy, never at the outcome a claim tests.
TRAINS = 0.5
TRAIN_ACC = "train_accuracy"


def flag(full, name):
    return str(full.get(name)).lower()


def _num(value):
    return float(value)


def augmented(full, _):
    return flag(full, "augment") == "true"


def not_augmented(full, _):
    return flag(full, "augment") == "false"


def _values(results, flag):
    return sorted(
        {
            _num(f._full(results, v)[flag])
            for entries in results.panels.values()
            for v, _ in entries
        }
    )


def _min_value(results, flag):
    return _values(results, flag)[0]


def _max_value(results, flag):
    return _values(results, flag)[-1]


def _selection(results):
    return results.selection_seeds


def _testing(results):
    return results.test_seeds


def _biased(results):
    return results.selection_seeds == results.test_seeds


def _mark(parts, results):
    """Marks `parts` biased where the best value was picked on the same runs."""
    if not isinstance(parts, NotTested):
        for part in parts:
            part.biased = _biased(results)
    return parts


def _seeds_text(results):
    if _biased(results):
        return f"picked on the same seeds {sorted(results.selection_seeds)}"
    return (
        f"picked on seeds {sorted(results.selection_seeds)}, tested on seeds "
        f"{sorted(results.test_seeds)}"
    )


# -- Learning rates (Fig. A.1, Fig. 3C) --------------------------------------------


def _lr_optimum(results, where):
    """At the smallest λ, among the points passing `where`: `(rates, best,
    {rate: point})` with the best test accuracy on the selection seeds."""
    lam = _min_value(results, "reg_lambda")
    points = {}
    for entries in results.panels.values():
        for values, point in entries:
            full = f._full(results, values)
            if where(full, results) and _num(full["reg_lambda"]) == lam:
                points[full["learning_rate"]] = point
    rates = sorted(points, key=_num)
    best = f.best_value(
        results,
        "learning_rate",
        TEST_ACC,
        lambda full, r: where(full, r) and _num(full["reg_lambda"]) == lam,
        _selection(results),
    )
    return rates, best, points


def _untrained(results, where):
    """The learning rates of setting `where` that did not train at the smallest
    λ (see `TRAINS`), and a note naming them ("" where every rate trained)."""
    rates, best, points = _lr_optimum(results, where)
    if best is None:
        return [], ""
    at_best = f.seeds(results, points[best], TRAIN_ACC).mean()
    out, words = [], []
    for rate in rates:
        acc = f.seeds(results, points[rate], TRAIN_ACC)
        if len(acc) and acc.min() < TRAINS * at_best:
            out.append(rate)
            words.append(f"learning_rate={rate} (lowest seed {acc.min():.3f})")
    if not out:
        return [], ""
    return out, (
        f"{', '.join(words)} did not train at λ = 0: a seed's train class accuracy "
        f"below {TRAINS:g} × {at_best:.3f}, the best rate {best}'s mean; left out"
    )


def _trained_only(results):
    """`(where, note)`: `where` passes the points whose learning rate trained
    at the smallest λ in their setting; `note` names the others ("" if none)."""
    left_out, notes = [], []
    for name, where in _settings(results):
        rates, note = _untrained(results, where)
        if rates:
            left_out.append((where, rates))
            notes.append(f"[{name}] {note}")

    def trained(full, r):
        return not any(
            w(full, r) and full["learning_rate"] in bad for w, bad in left_out
        )

    return trained, "; ".join(notes)


def _noted(parts, note):
    """`parts` with `note` (the rates left out) before the first one's text."""
    if note and parts and not isinstance(parts, NotTested):
        parts[0].text = f"({note}) {parts[0].text}"
    return parts


def _settings(results):
    """The augmentation settings of the sweep, as `where` functions."""
    out = []
    for name, where in (
        ("augment=true", augmented),
        ("augment=false", not_augmented),
    ):
        if any(
            where(f._full(results, v), results)
            for entries in results.panels.values()
            for v, _ in entries
        ):
            out.append((name, where))
    return out


def _past_optimum(results, name, where):
    """The rates of setting `where` that lie clearly past its λ = 0 optimum
    (on the selection seeds, test accuracy lower than at the best rate by at
    least `TEST_MARGIN`), or the reason there are none."""
    rates, best, points = _lr_optimum(results, where)
    if best is None:
        return [], f"{name}: no runs at the smallest λ"
    untrained, note = _untrained(results, where)
    above = [r for r in rates if _num(r) > _num(best) and r not in untrained]
    if not above:
        return [], (
            f"{name}: at the smallest λ the best learning rate is {best}, the top "
            f"of the grid {{{', '.join(rates)}}} that trained "
            f"({_seeds_text(results)}){'; ' + note if note else ''}"
        )
    past, why = [], []
    selection = _selection(results)
    at_best = f.seeds(results, points[best], TEST_ACC, selection).mean()
    for rate in above:
        drop = f.seeds(results, points[rate], TEST_ACC, selection).mean() - at_best
        if drop <= -TEST_MARGIN:
            past.append(rate)
        else:
            why.append(f"learning_rate={rate} − {best}: {drop:+.3f}")
    if past:
        return past, note
    return [], (
        f"{name}: test accuracy does not fall by the margin {TEST_MARGIN:g} above "
        f"the best rate {best} ({'; '.join(why)}; {_seeds_text(results)})"
        f"{'; ' + note if note else ''}"
    )


def degrades_at_high_lr(results):
    """A.1: at the rates past the λ = 0 optimum, test accuracy falls with λ
    (Page over λ per such rate, on the test seeds)."""
    parts, reasons = [], []
    for name, where in _settings(results):
        past, why = _past_optimum(results, name, where)
        if not past:
            reasons.append(why)
            continue
        check = f.trend(
            "reg_lambda",
            -1,
            TEST_ACC,
            lambda full, r, w=where, p=past: w(full, r) and full["learning_rate"] in p,
            _testing,
        )
        parts += _noted(check(results), why and f"[{name}] {why}")
    if not parts:
        return NotTested(
            "a learning rate clearly above the λ = 0 optimum (test accuracy "
            "falling past it)",
            "; ".join(reasons),
        )
    return _mark(parts, results)


def improves_at_low_lr(results):
    """A.1: without augmentation, at rates below the λ = 0 optimum, test
    accuracy rises with λ (on the test seeds)."""
    rates, best, _ = _lr_optimum(results, not_augmented)
    if best is None:
        return NotTested("runs without augmentation at the smallest λ", "none")
    below = [r for r in rates if _num(r) < _num(best)]
    if not below:
        return NotTested(
            "a learning rate below the λ = 0 optimum (no augmentation)",
            f"the best rate {best} is the bottom of the grid {{{', '.join(rates)}}} "
            f"({_seeds_text(results)})",
        )
    check = f.trend(
        "reg_lambda",
        +1,
        TEST_ACC,
        lambda full, r: not_augmented(full, r) and full["learning_rate"] in below,
        _testing,
    )
    return _mark(check(results), results)


def only_at_best_lr(results):
    """A.1B: with augmentation, λ raises test accuracy at the best learning rate
    (trend) and does not improve it at any other (non-superiority); needs the
    best rate inside the grid."""
    rates, best, _ = _lr_optimum(results, augmented)
    if best is None:
        return NotTested("runs with augmentation at the smallest λ", "none")
    untrained, note = _untrained(results, augmented)
    rates = [r for r in rates if r not in untrained]
    if best in (rates[0], rates[-1]):
        return NotTested(
            "the λ = 0 optimum of the learning rate inside the grid (with "
            "augmentation)",
            f"the best rate {best} is an end of the grid {{{', '.join(rates)}}} "
            f"that trained ({_seeds_text(results)}){'; ' + note if note else ''}",
        )
    at_best = f.trend(
        "reg_lambda",
        +1,
        TEST_ACC,
        lambda full, r: augmented(full, r) and full["learning_rate"] == best,
        _testing,
    )
    others = f.no_improvement(
        "reg_lambda",
        TEST_MARGIN,
        TEST_ACC,
        lambda full, r: (
            augmented(full, r)
            and full["learning_rate"] in rates
            and full["learning_rate"] != best
        ),
        _testing,
    )
    parts = _noted(at_best(results) + others(results), note)
    return _mark(parts, results)


def _same_sign(tests):
    """A rule for two tests (the effect of λ, of a larger rate): "yes" where
    both are significant in the same direction, "no" in opposite ones."""
    significant = [t for t in tests if t.adjusted <= f.ALPHA]
    if len(significant) < 2:
        return None
    return significant[0].verdict == significant[1].verdict


def like_larger_lr(results):
    """A.1: raising λ at the smallest rate moves test accuracy the way raising
    the rate (to the next one) does at the smallest λ: both significant, the
    same sign."""
    parts = []
    lam0, lam1 = _min_value(results, "reg_lambda"), _max_value(results, "reg_lambda")
    for name, where in _settings(results):
        grid = {}
        for entries in results.panels.values():
            for values, point in entries:
                full = f._full(results, values)
                if where(full, results):
                    grid[(_num(full["reg_lambda"]), _num(full["learning_rate"]))] = (
                        point
                    )
        rates = sorted({r for _, r in grid})
        if (
            len(rates) < 2
            or (lam0, rates[0]) not in grid
            or (lam1, rates[0]) not in grid
        ):
            continue
        base = grid[(lam0, rates[0])]
        by_lambda = f.compare(results, base, grid[(lam1, rates[0])], TEST_ACC)
        by_rate = f.compare(results, base, grid[(lam0, rates[1])], TEST_ACC)
        text = (
            f"[{name}, learning_rate={rates[0]:g}] λ={lam1:g} − λ={lam0:g}: "
            f"{by_lambda}; learning_rate={rates[1]:g} − {rates[0]:g} at λ={lam0:g}: "
            f"{by_rate}"
        )
        tests = [
            f.Test(by_lambda.diff.p, by_lambda.diff.estimate > 0),
            f.Test(by_rate.diff.p, by_rate.diff.estimate > 0),
        ]
        parts.append(f.Part(text, tests, rule=_same_sign))
    if not parts:
        return NotTested("two learning rates and two λ values", "the grid has fewer")
    return parts


def no_dramatic_drop(results):
    """A.1: the largest λ lowers test accuracy by less than `DROP_MARGIN` at
    every learning rate (non-inferiority, paired)."""
    lam0, lam1 = _min_value(results, "reg_lambda"), _max_value(results, "reg_lambda")
    trained, note = _trained_only(results)
    parts = []
    for label, members in f._groups(results, "reg_lambda", trained):
        by = {_num(v): p for v, p in members}
        if lam0 not in by or lam1 not in by:
            continue
        comp = f.compare(results, by[lam0], by[lam1], TEST_ACC)
        text = f"λ={lam1:g} − λ={lam0:g}{f._where(label)}: {comp}"
        parts.append(
            f.Part(
                text,
                [
                    f.Test(comp.diff.p_not_below(DROP_MARGIN), True),
                    f.Test(f._cap(2 * comp.diff.p_below()), False),
                ],
                power=comp.power(DROP_MARGIN, two_sided=False),
                power_text=comp.power_text(DROP_MARGIN, False),
            )
        )
    return _noted(parts, note)


def lambda_in_papers_regime(results):
    """3C: in the paper's regime (augmentation, the learning rate tuned at
    λ = 0 on the selection seeds, a generalization gap to close), no λ > 0
    improves test accuracy by the margin (on the test seeds)."""
    if not _settings(results) or _settings(results)[0][0] != "augment=true":
        return NotTested(
            "the paper's regime: augmentation on", "this sweep trains without it"
        )
    rates, best, points = _lr_optimum(results, augmented)
    if len(rates) < 2:
        return NotTested(
            "the paper's regime: the learning rate tuned at λ = 0 (a learning-rate "
            "grid at λ = 0 to pick it from)",
            f"this sweep has the one learning rate {rates[0] if rates else '—'}",
        )
    point = points[best]
    gap = f.seeds(results, point, "train_accuracy", _testing(results)) - f.seeds(
        results, point, TEST_ACC, _testing(results)
    )
    mean_gap = gap.mean() if len(gap) else float("nan")
    if not mean_gap >= TEST_MARGIN:
        return NotTested(
            f"a generalization gap of at least the margin {TEST_MARGIN:g} at λ = 0 "
            "(room for λ to improve test accuracy)",
            f"train − test class accuracy {mean_gap:.3f} at learning_rate={best}",
        )
    check = f.no_improvement(
        "reg_lambda",
        TEST_MARGIN,
        TEST_ACC,
        lambda full, r: augmented(full, r) and full["learning_rate"] == best,
        _testing,
    )
    parts = check(results)
    if parts:
        parts[0].text = (
            f"learning rate {best} tuned at λ = 0 ({_seeds_text(results)}), "
            f"generalization gap {gap.mean():.3f}; " + parts[0].text
        )
    return _mark(parts, results)


# -- Label smoothing (Fig. A.2) ------------------------------------------------------


def _best_smoothing(results):
    """The smoothing with the best mean test accuracy at the smallest λ, on the
    selection seeds."""
    lam = _min_value(results, "reg_lambda")
    return f.best_value(
        results,
        "label_smoothing",
        TEST_ACC,
        lambda full, _: _num(full["reg_lambda"]) == lam,
        _selection(results),
    )


def smoothing_improves(results):
    """A.2: at the smallest λ, some ε > 0 beats ε = 0 (paired per ε; Holm over
    the report covers the choice among them)."""
    lam = _min_value(results, "reg_lambda")
    eps0 = _min_value(results, "label_smoothing")
    parts = []
    for _, members in f._groups(
        results, "label_smoothing", lambda full, _: _num(full["reg_lambda"]) == lam
    ):
        if _num(members[0][0]) != eps0:
            continue
        ref = members[0][1]
        for value, point in members[1:]:
            parts.append((value, f.compare(results, ref, point, TEST_ACC)))
    if not parts:
        return []
    text = "; ".join(f"label_smoothing={v} − 0: {d}" for v, d in parts)
    tests = [f.Test(d.diff.p, d.diff.estimate > 0) for _, d in parts]
    # "yes" where some ε improves; "no" only where every ε significantly hurts.
    part = f.Part(text, [t for t in tests if t.verdict])
    against = [t for t in tests if not t.verdict]
    if len(against) == len(tests):
        part.tests.append(f.Test(max(t.p for t in against), False))
    return [part]


def low_smoothing(results):
    best = _best_smoothing(results)
    check = f.trend(
        "reg_lambda",
        +1,
        TEST_ACC,
        lambda full, _: (
            _num(full["label_smoothing"]) == 0
            or (best is not None and _num(full["label_smoothing"]) < _num(best))
        ),
        _testing,
    )
    return _mark(check(results), results)


def at_and_above_best_smoothing(results):
    """A.2: at the best ε and above, λ lowers test accuracy at every step;
    needs the best ε inside the grid."""
    best = _best_smoothing(results)
    grid = [str(v) for v in _values(results, "label_smoothing")]
    if best is None:
        return NotTested("runs at the smallest λ", "none")
    if _num(best) == _max_value(results, "label_smoothing"):
        return NotTested(
            "the best ε inside the grid (a larger ε where test accuracy falls)",
            f"at the smallest λ the best ε is {best}, the top of the grid "
            f"{{{', '.join(grid)}}} ({_seeds_text(results)})",
        )
    check = f.monotone(
        "reg_lambda",
        -1,
        TEST_ACC,
        lambda full, _: _num(full["label_smoothing"]) >= _num(best),
        _testing,
    )
    return _mark(check(results), results)


def smoothing_beats_lambda(results):
    """A.2: the best ε at the smallest λ beats the best λ at the smallest ε
    (both picked on the selection seeds, compared on the test seeds)."""
    lam = _min_value(results, "reg_lambda")
    eps = _min_value(results, "label_smoothing")
    best_eps = _best_smoothing(results)
    best_lam = f.best_value(
        results,
        "reg_lambda",
        TEST_ACC,
        lambda full, _: _num(full["label_smoothing"]) == eps,
        _selection(results),
    )
    if best_eps is None or best_lam is None:
        return []
    points = {}
    for entries in results.panels.values():
        for values, point in entries:
            full = f._full(results, values)
            points[(full["reg_lambda"], full["label_smoothing"])] = point
    lam_point = next(
        p for (lm, e), p in points.items() if lm == best_lam and _num(e) == eps
    )
    eps_point = next(
        p for (lm, e), p in points.items() if e == best_eps and _num(lm) == lam
    )
    comp = f.compare(results, lam_point, eps_point, TEST_ACC, _testing(results))
    text = (
        f"best smoothing (label_smoothing={best_eps}) − best λ "
        f"(reg_lambda={best_lam}), {_seeds_text(results)}: {comp}"
    )
    return _mark([f.Part(text, [f._signed(comp.diff, +1)])], results)


def smoothing_pairs_at_max_lambda(results):
    """At the largest λ: (label, point ε = smallest, point ε) for every other ε."""
    lam = _max_value(results, "reg_lambda")
    out = []
    for label, members in f._groups(
        results, "label_smoothing", lambda full, _: _num(full["reg_lambda"]) == lam
    ):
        (v0, ref), others = members[0], members[1:]
        for value, point in others:
            where = f"label_smoothing={value} − {v0}" + (f", {label}" if label else "")
            out.append((where, ref, point))
    return out
