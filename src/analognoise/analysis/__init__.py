"""From a study's runs to the paper's tables, figures, audit and claims, ours beside theirs.

Conventions: accuracies are fractions internally and percent on display; ``variant`` is
"BN", "no BN" or "partial BN"; the paper's "No BN" column is compared with our "no BN" and
"partial BN" runs (the paper used partial BN there where no-BN did not train).

The package, by concern: ``paper`` (the paper's numbers and the audit), ``store`` (reading and
exporting a study's results), ``tables`` (Tables II-IV and eq. 14 beside the paper's),
``claims`` (the paper's claims as objects), ``ablation`` (which weights the noise hits),
``theory_checks`` (section II measured), ``companions`` (learning rate, architectures),
``devices`` (noise models beyond the paper's, per-layer sensitivity), ``partial_bn`` (how
many BN sites and where: the trade-off and the BN-count claims), ``noise_aware`` (training
with weight noise as a mitigation), ``mitigations`` (the designer's recommendation) and
``mechanism`` (why BN loses accuracy under noise: diagnostics, interventions, verdicts) and
``findings`` (each chapter's "What this chapter finds" box, from its results) and ``explore``
(every committed result in one table, for questions the book does not ask).
Every public name is importable from ``analognoise.analysis`` itself, as the notebooks do.
"""
from .paper import DATASET_LABELS, KERAS_EXAMPLE_V1, MODEL_ORDER, PAPER_MODELS, PAPER_TABLE, check_paper_quotes, compare_with_keras_example, paper_accuracy, paper_quotes, paper_table4, paper_table_oddities, recompute_paper_table4  # noqa: F401
from .store import RUN_LABELS, describe_study, export_results, finished_cells, load_histories, load_results, load_theory, run_links  # noqa: F401
from .tables import CHANCE, SETTINGS, TRAINED_MULTIPLE_OF_CHANCE, accuracy_table, clean_accuracy_table, matched_clean_accuracy, bn_effect, budget_caveat, eq14, eq14_chance_corrected, is_trained, summarize, table4, untrained_runs  # noqa: F401
from .ablation import ABLATION_STEPS, ABLATION_TARGETS, ablation_eq14, ablation_findings, ablation_table, collapsed_trials, degradation_sources, pretrained_eq14  # noqa: F401
from .claims import CLAIMS, Claim, Evidence, claims_checklist  # noqa: F401
from .theory_checks import minibatch_summary, power_law_fit, theory_claims, theory_vs_robustness  # noqa: F401
from .companions import architecture_claims, architecture_table, learning_rate_claims, learning_rate_table, sweet_spots  # noqa: F401
from .devices import EFFECT_KEYS, TIME_LABELS, bn_penalty, bn_penalty_by_site, load_device_results, pcm_over_time, penalty_verdicts, recalibration_claims, recalibration_effect, recalibration_summary, quantization_table, scale_ratio_summary, sensitivity_by_site, stacked_effect  # noqa: F401
from .partial_bn import bn_count_claims, bn_count_table, committed_searches, design_summary, front_run_ids, pareto_front, placement_comparison  # noqa: F401
from .noise_aware import noise_aware_accuracy, noise_aware_claims, noise_aware_effect, noise_aware_summary  # noqa: F401
from .mitigations import mitigation_recommendation  # noqa: F401
from .mechanism import CONDITIONS, RECIPES, bn_penalty_by_recipe, convention_effect, deepest_bn_models, depth_trend, diagnostics_table, factor_table, penalty_table, surgery_table, intervention_eq14, load_mechanism, mechanism_claims, surgery_effect, training_status  # noqa: F401
from .findings import mechanism_findings, ablation_chapter_findings, ask_findings, audit_findings, claims_findings, device_findings, gradient_noise_findings, paper_accuracy_findings, pretrained_findings, runs_findings  # noqa: F401
from .explore import at_level, committed_trials  # noqa: F401
from .display import accuracy_by_level_table, clean_table, effect_table, eq14_table, matched_table  # noqa: F401
