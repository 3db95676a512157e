"""The claims report: `claims.md`'s Markdown from the judged claims
(`ei_zoo.paper.claims`), the rule that labels them, and what training creates.

    text = report(check_claims(table, samples), header, sensitivity_lines)
"""

from __future__ import annotations

from ei_zoo.network.config import AREAS
from ei_zoo.paper import effects
from ei_zoo.paper.claims import OTHER, RHO_MARGIN, SPEC, STEADY_SPREAD, Claim
from ei_zoo.paper.effects import HOLDS, MISSING

RULES = [
    "How a label is given. Each row compares two groups of neurons in one area: its effect "
    "is the difference of their population values averaged over the networks, with a 95% "
    "hierarchical bootstrap interval (networks resampled, then neurons within each), judged "
    "against the measure's margin of practical equivalence "
    f"({', '.join(f'{measure} {margin:g}' for measure, margin in effects.MARGINS.items())}; "
    f"Spearman's rho {RHO_MARGIN:g}). A predicted difference **holds** when the interval lies "
    "beyond 0 on the predicted side and the effect beyond the margin; **does not hold** when "
    "the same is true on the other side; **mixed** when networks disagree beyond the margin "
    "or the effect is beyond it while the interval reaches 0; **no difference** when the "
    "effect lies within the margin. \"Not sparser\" holds when the interval excludes a "
    "deficit beyond the margin; \"steady\" when the interval of the E density's range / mean "
    f"lies within {STEADY_SPREAD:g}. Each part of a claim (one comparison, such as PN "
    "against OG in selectivity, or one trend) combines its areas (and ratios): holds when "
    "every row holds, no difference when every row finds none, does not hold when no row "
    "holds or is mixed and at least one does not hold, mixed otherwise. The claim's label, "
    "and each area's, joins its parts: does "
    "not hold when a part does not, no difference when a part finds none, holds when every "
    "part holds, mixed otherwise. Rows and parts with a silent (or, under `functional "
    "populations only`, non-functional) population are shown and not counted "
    "(**not measurable** when none is left). SPEC's reading gives the verdict; the other "
    "reading treats the interneurons the other way (pooled or separate).",
]


def emerges(trained: Claim, untrained: Claim) -> str:
    """Per area, whether training creates what the claim finds: `yes` where it holds
    trained and not untrained, `no (holds untrained)` where it holds in both, `lost with
    training` where it holds untrained only, `—` where it holds in neither; one word where
    the areas agree."""
    def word(area):
        held = (trained.areas.get(area) == HOLDS, untrained.areas.get(area) == HOLDS)
        return {(True, False): "yes", (True, True): "no (holds untrained)",
                (False, True): "lost with training"}.get(held, "—")

    words = [word(area) for area in AREAS]
    if len(set(words)) == 1:
        return words[0]
    return ", ".join(f"{area} {w}" for area, w in zip(AREAS, words))


UNTRAINED_NOTE = (
    "`untrained`: the same claim on the untrained baselines (each network of the zoo as its "
    "recipe left it before the first training step: initialised with its seed, biases "
    "balanced; `table_untrained.csv`), judged by the same rule with the same θ. "
    "`emerges with training`: per area, whether the claim holds trained but not untrained.")


def report(claims: list[Claim], header: list[str] = (), sensitivity: list[str] = (),
           design: list[str] = (), untrained: list[Claim] | None = None) -> str:
    """The claims report as Markdown: the verdicts first (and, with `untrained`, the
    untrained baselines' and whether training creates them), then how robust they are
    to the choice of measure and (`design`) to the zoo's training choices, the networks
    and measures, and each claim's numbers."""
    baseline = {claim.id: claim for claim in untrained or ()}
    extra = " | untrained | emerges with training" if baseline else ""
    lines = ["# The paper's claims, checked against this zoo", "",
             f"| claim | verdict (SPEC's reading) | {' | '.join(AREAS)} | other reading "
             f"| networks{extra} |",
             "|---|---|" + "---|" * len(AREAS) + "---|---|" + "---|---|" * bool(baseline)]
    for c in claims:
        row = (f"| {c.id}: {c.statement} | **{c.verdict}** ({c.readings.get(SPEC, '')}) | "
               + " | ".join(c.areas.get(area, MISSING) for area in AREAS)
               + f" | {c.other} ({c.readings.get(OTHER, '')}) | {c.networks} |")
        if baseline:
            row += f" {baseline[c.id].summary} | {emerges(c, baseline[c.id])} |"
        lines.append(row)
    lines += ["", *RULES] + (["", UNTRAINED_NOTE] if baseline else [])
    lines += ["", "## Does each verdict survive the choice of measure?", "", *sensitivity]
    if design:
        lines += ["", "## Which of the zoo's design choices decide each verdict?", "", *design]
    lines += ["", "## Networks and measures", "", *header]
    for claim in claims:
        lines += ["", f"## {claim.id}: {claim.statement}", "", f"Verdict: **{claim.verdict}** "
                  f"(SPEC's reading, {claim.networks} network(s)); other reading: "
                  f"{claim.other}.", "", *claim.evidence]
    return "\n".join(lines) + "\n"
