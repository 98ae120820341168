"""Asset factory: each PhaseConfig becomes a graph-backed, idea-partitioned asset with a blocking gate."""

from __future__ import annotations

import warnings

import dagster as dg

from ideamine_core.config.graph import PhaseGraph
from ideamine_core.domain.phase import Parallelism, PhaseConfig
from ideamine_dagster.ops import GATE_CHECK, agent_op, chained_agent_op, gate_op, iterate_op, plan_op
from ideamine_dagster.partitions import IDEAS


def _describe(config: PhaseConfig) -> str:
    parallelism = getattr(config.parallelism, "value", config.parallelism)
    agents = ", ".join(config.agent_names)
    return (
        f"{config.description}\n\nAgents: {agents}. Parallelism: {parallelism}. "
        f"Aggregation: {config.aggregation_strategy.value}."
    )


def _graph(config: PhaseConfig, check: dg.AssetCheckSpec) -> dg.GraphDefinition:
    deps = list(config.depends_on)
    check_out = check.get_python_identifier()
    gate = gate_op(config)
    mode = config.parallelism

    if mode is Parallelism.SEQUENTIAL:
        plan = plan_op(config, deps, dynamic=False)
        steps = [chained_agent_op(config, name, i) for i, name in enumerate(config.agent_names)]

        def compose(**upstream: dg.GraphIn) -> dict:
            contexts = plan(**upstream)
            results = steps[0](contexts)
            for step in steps[1:]:
                results = step(contexts, results)
            result, verdict = gate(results)
            return {"result": result, check_out: verdict}
    elif mode is Parallelism.ITERATIVE:
        plan, loop = plan_op(config, deps, dynamic=False), iterate_op(config)

        def compose(**upstream: dg.GraphIn) -> dict:
            result, verdict = gate(loop(plan(**upstream)))
            return {"result": result, check_out: verdict}
    else:
        plan, agent = plan_op(config, deps, dynamic=True), agent_op(config)

        def compose(**upstream: dg.GraphIn) -> dict:
            result, verdict = gate(plan(**upstream).map(agent).collect())
            return {"result": result, check_out: verdict}

    return dg.graph(
        name=config.phase,
        description=_describe(config),
        ins={d: dg.GraphIn() for d in deps},
        out={"result": dg.GraphOut(), check_out: dg.GraphOut()},
    )(compose)


def _gate_spec(config: PhaseConfig) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        GATE_CHECK,
        asset=config.phase,
        blocking=True,
        partitions_def=IDEAS,
        description=f"Gate of {config.phase}: artifacts present and valid, "
        f"score ≥ {config.gate.pass_threshold}.",
    )


def build_phase_asset(config: PhaseConfig) -> dg.AssetsDefinition:
    """One software-defined asset for a phase, its deps from `depends_on`, its gate as a check."""
    with warnings.catch_warnings():
        # Partitioned checks are a Dagster preview feature; we need them for per-idea gate status.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        check = _gate_spec(config)
    return dg.AssetsDefinition.from_graph(
        _graph(config, check),
        keys_by_input_name={d: dg.AssetKey(d) for d in config.depends_on},
        keys_by_output_name={"result": dg.AssetKey(config.phase)},
        partitions_def=IDEAS,
        check_specs=[check],
        group_name="ideamine",
        descriptions_by_output_name={"result": _describe(config)},
        metadata_by_output_name={
            "result": {
                "parallelism": str(getattr(config.parallelism, "value", config.parallelism)),
                "agents": ", ".join(config.agent_names),
            }
        },
    )


def build_phase_assets(graph: PhaseGraph) -> list[dg.AssetsDefinition]:
    """Every phase asset, in topological order."""
    return [build_phase_asset(config) for config in graph.phases.values()]
