"""The paper's questions: the design study's variants, claims C1-C6 and their
verdicts, the sensitivity and design tables, the paper's figures, `reproduce`.

    plan         the paper's zoo: its 17 networks and how they are trained
    study        the design study's changes (registers `<base>.<change>` variants)
    effects      effect sizes, hierarchical bootstrap intervals, labels
    claims       claims C1-C6 and their verdicts
    report       claims.md: the verdicts, their rule, what training creates
    sensitivity  each verdict under other measures
    design       each verdict under the study's changes
    figures      the paper's figures
    reproduce    everything above from one folder of exports
"""
