// "Validation & Test": run the node as the game would (optionally forcing a failure), see the content
// with its latency, cost, cache tier and seed (TestResult.tsx), review it, invalidate its cache, duplicate it.
import { useReducer } from "react";
import { ApiError, describeError } from "../api/client";
import { api, type ServiceHealth } from "../api/endpoints";
import type { GenerationNode, SceneGraph } from "../api/types.gen";
import { FAIL_CODES, budgetBlock, buildRequest, type BudgetState, type FailCode } from "../state/requests";
import { initialTestRun, testRunReducer } from "../state/testRun";
import { ArmsTable } from "./ArmsTable";
import { FindingsList } from "./Findings";
import { Result } from "./TestResult";
import { Icon } from "./Icon";
import { ErrorCodeLabels } from "../api/labels.gen";

export function TestPanel(props: {
  graph: SceneGraph;
  node: GenerationNode;
  service: ServiceHealth | null;
  budget: BudgetState;
  onGenerated: () => void;
  onDuplicate: () => void;
  onBumpVersion: () => void;
  onInvalidated: () => void;
}) {
  const { graph, node, service, budget } = props;
  const [run, dispatch] = useReducer(testRunReducer, initialTestRun);
  const { fail, provider, playthroughId, playerId, busy, outcome, error, notice, runs, deep } = run;
  const configJson = JSON.stringify(node.config);
  const providers = Object.keys(service?.providers ?? {});
  const devTools = service?.dev_tools !== false;
  const blocked = budgetBlock(budget, node.id);

  async function generate() {
    dispatch({ type: "generateStarted" });
    const request = buildRequest(graph, node, { playthroughId, playerId, provider, fail });
    try {
      const { response, seedText } = await api.generate(request);
      const requestJson = JSON.stringify(request, null, 2);
      dispatch({ type: "generated", outcome: { response, seedText, requestJson, configJson, at: new Date() } });
      props.onGenerated();
    } catch (err) {
      dispatch({
        type: "failed",
        message:
          err instanceof ApiError && err.status === 429
            ? `Rate limited (${err.code ?? "429"}): try again in ${err.retryAfter ?? "a few"} s.`
            : describeError(err),
      });
    }
  }

  async function validateForPlayer() {
    dispatch({ type: "validateStarted" });
    const request = buildRequest(graph, node, { playthroughId, playerId, provider, fail: "" });
    try {
      const result = await api.validateInContext(node.config, {
        fromScene: request.from_scene ?? null,
        toScene: request.to_scene ?? null,
        playerContext: request.player_context ?? null,
      });
      dispatch({ type: "validated", deep: { result, configJson } });
    } catch (err) {
      dispatch({ type: "validateFailed", message: describeError(err) });
    }
  }

  async function invalidate() {
    dispatch({ type: "invalidateStarted" });
    try {
      const result = await api.invalidate(node.id);
      const dropped = `${result.invalidated} entr${result.invalidated === 1 ? "y" : "ies"}`;
      dispatch({ type: "invalidated", notice: `Cache invalidated: ${dropped} dropped.` });
      props.onInvalidated();
    } catch (err) {
      dispatch({ type: "failed", message: describeError(err) });
    }
  }

  return (
    <section className="test-panel">
      <div className="field-row">
        <label className="field">
          <span className="field__label">Provider</span>
          <select data-testid="test-provider" value={provider} onChange={(e) => dispatch({ type: "field", field: "provider", value: e.target.value })}>
            <option value="">(server default for {node.config.generationType})</option>
            {providers.map((p) => (
              <option key={p} value={p}>
                {p}
                {service?.providers?.[p]?.status !== "ok" ? ` (${service?.providers?.[p]?.status})` : ""}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span className="field__label">Force failure</span>
          <select
            data-testid="force-failure"
            value={fail}
            disabled={!devTools}
            title={devTools ? "Make the provider fail to watch the fallback path" : "Dev tools are off on this server"}
            onChange={(e) => dispatch({ type: "field", field: "fail", value: e.target.value as FailCode | "" })}
          >
            <option value="">none</option>
            {FAIL_CODES.map((code) => (
              <option key={code} value={code}>
                {ErrorCodeLabels[code]} ({code})
              </option>
            ))}
          </select>
        </label>
      </div>
      <div className="field-row">
        <label className="field">
          <span className="field__label">Playthrough id</span>
          <input
            data-testid="test-playthrough"
            value={playthroughId}
            onChange={(e) => dispatch({ type: "field", field: "playthroughId", value: e.target.value })}
          />
        </label>
        <label className="field">
          <span className="field__label">Player id</span>
          <input data-testid="test-player" value={playerId} onChange={(e) => dispatch({ type: "field", field: "playerId", value: e.target.value })} />
        </label>
      </div>
      <div className="actions">
        <button
          type="button"
          className="primary"
          data-testid="test-generate"
          disabled={busy !== null || blocked !== null}
          onClick={() => void generate()}
        >
          {busy === "generate" ? "Generating…" : <><Icon name="play" /> Test Generation</>}
        </button>
        <button
          type="button"
          data-testid="validate-context"
          onClick={() => void validateForPlayer()}
          title="Validate the node for its two scenes and this playthrough / player (the checks a game's request meets)"
        >
          Validate for this player
        </button>
        <button type="button" data-testid="invalidate-cache" disabled={busy !== null} onClick={() => void invalidate()}>
          {busy === "invalidate" ? "Invalidating…" : "Invalidate Cache"}
        </button>
        <button
          type="button"
          data-testid="bump-version"
          onClick={props.onBumpVersion}
          title="A new version gets new cache keys: every player gets fresh content (save to apply)"
        >
          Bump version (v{(node.config.version ?? 1) + 1})
        </button>
        <button type="button" data-testid="duplicate-node" onClick={props.onDuplicate}>
          Duplicate Node
        </button>
      </div>
      {blocked ? (
        <p className="budget-reason" data-testid="budget-reason">
          {blocked}
        </p>
      ) : null}
      {budget.kind === "unavailable" ? <p className="muted small">{budget.message}</p> : null}
      {!devTools ? <p className="muted small">Dev tools are off on this server: failures cannot be forced.</p> : null}
      {notice ? <p className="notice">{notice}</p> : null}
      {deep ? (
        <div className={`deep-validation${deep.configJson === configJson ? "" : " is-stale"}`}>
          <span className="field__label">
            For this player: {deep.result.status}
            {deep.configJson === configJson ? "" : " (the config changed since)"}
          </span>
          <FindingsList
            findings={deep.result.findings}
            testId="context-findings"
            empty="No findings for this playthrough and player."
          />
        </div>
      ) : null}
      {error ? (
        <p className="error-box" role="alert">
          {error}
        </p>
      ) : null}
      {outcome ? <Result outcome={outcome} stale={outcome.configJson !== configJson} /> : null}
      {node.config.arms?.length ? <ArmsTable nodeId={node.id} refresh={runs} /> : null}
    </section>
  );
}
