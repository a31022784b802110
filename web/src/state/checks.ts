// What the server says about the document as it is edited: the selected node's validation and rule
// compilation, the whole graph's health (every badge), each node's stats, and the budgets.
import { useCallback, useEffect, useMemo, useState } from "react";
import { ApiError, describeError, isMissingRoute } from "../api/client";
import { api } from "../api/endpoints";
import type {
  DslResult,
  GenerationNode,
  GenerationValidationResult,
  GraphHealth,
  NodeStats,
  SceneGraph,
  ValidationFinding,
} from "../api/types.gen";
import type { BadgeStatus } from "../components/nodes";
import { statusBadge } from "./status";
import type { BudgetState } from "./requests";

const VALIDATE_MS = 250;
const HEALTH_MS = 400;
const STATS_EVERY_MS = 30_000;
const BUDGET_EVERY_MS = 60_000;
const STATS_MAX_NODES = 60;

export function useDebounced<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setDebounced(value), ms);
    return () => window.clearTimeout(timer);
  }, [value, ms]);
  return debounced;
}

function asText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** An error answer's details as findings (the server's 422 lists every problem with its field). */
export function detailsAsFindings(error: ApiError): ValidationFinding[] {
  const details = error.body?.details ?? [];
  if (details.length === 0)
    return [{ code: error.code ?? "ERROR", field: "", message: error.message, severity: "error" }];
  return details.map((d) => {
    const item = d as Record<string, unknown>;
    const severity = item.severity === "warning" || item.severity === "suggestion" ? item.severity : "error";
    return {
      code: asText(item.code) ?? asText(item.type) ?? error.code ?? "INVALID",
      field: asText(item.field) ?? "",
      message: asText(item.message) ?? "",
      severity,
    };
  });
}

/** Validation on every change (debounced): the selected node, its rules, and the whole graph's health. */
export function useServerChecks(
  graph: SceneGraph | null,
  graphJson: string | null,
  selectedNode: GenerationNode | null,
) {
  const [health, setHealth] = useState<GraphHealth | null>(null);
  const [healthError, setHealthError] = useState<string | null>(null);
  /** The document (as JSON) the health was checked for: null when it came from a save. */
  const [healthJson, setHealthJson] = useState<string | null>(null);
  const [validation, setValidation] = useState<{
    key: string;
    nodeId: string;
    result: GenerationValidationResult;
  } | null>(null);
  const [validationError, setValidationError] = useState<string | null>(null);
  const [dsl, setDsl] = useState<{ source: string; result: DslResult } | null>(null);
  const [dslError, setDslError] = useState<string | null>(null);
  const graphId = graph?.id ?? null;

  useEffect(() => {
    // Another graph: nothing known about it yet.
    setHealth(null);
    setValidation(null);
  }, [graphId]);

  const nodeForCheck = useMemo(() => {
    if (!graph || !selectedNode) return null;
    return {
      id: selectedNode.id,
      config: selectedNode.config,
      key: JSON.stringify([selectedNode.id, selectedNode.config]),
    };
  }, [graph, selectedNode]);
  const checkKey = useDebounced(nodeForCheck?.key ?? null, VALIDATE_MS);

  useEffect(() => {
    if (!checkKey || !nodeForCheck || nodeForCheck.key !== checkKey) return;
    const controller = new AbortController();
    api
      .validate(nodeForCheck.config, controller.signal)
      .then((result) => {
        setValidation({ key: checkKey, nodeId: nodeForCheck.id, result });
        setValidationError(null);
      })
      .catch((err) => {
        if (controller.signal.aborted) return;
        setValidationError(describeError(err));
        // A config the schema refuses (a value out of bounds) is an error finding too.
        if (err instanceof ApiError && err.status === 422) {
          setValidation({
            key: checkKey,
            nodeId: nodeForCheck.id,
            result: { status: "errors", findings: detailsAsFindings(err), complexity: 0 },
          });
        }
      });
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [checkKey]);

  const serverValidation =
    validation && selectedNode && validation.nodeId === selectedNode.id ? validation.result : null;
  const dslForNode = dsl && selectedNode && dsl.source === (selectedNode.config.rules ?? "") ? dsl.result : null;
  // The validator does not compile the rule DSL; its compiler's errors make the node's status an error too.
  const currentValidation = useMemo((): GenerationValidationResult | null => {
    if (!serverValidation) return null;
    const ruleFindings: ValidationFinding[] = [
      ...(dslForNode?.errors ?? []).map((d) => ({
        code: d.code,
        field: "rules",
        message: `line ${d.line}:${d.column}: ${d.message}`,
        severity: "error" as const,
      })),
      ...(dslForNode?.warnings ?? []).map((d) => ({
        code: d.code,
        field: "rules",
        message: `line ${d.line}:${d.column}: ${d.message}`,
        severity: "warning" as const,
      })),
    ];
    if (!ruleFindings.length) return serverValidation;
    const findings = [...serverValidation.findings, ...ruleFindings];
    const status =
      serverValidation.status === "disabled"
        ? "disabled"
        : findings.some((f) => f.severity === "error")
          ? "errors"
          : findings.some((f) => f.severity === "warning")
            ? "warnings"
            : serverValidation.status;
    return { ...serverValidation, findings, status };
  }, [serverValidation, dslForNode]);

  const healthKey = useDebounced(graphJson, HEALTH_MS);
  useEffect(() => {
    if (!healthKey || !graph || healthKey !== graphJson) return;
    const controller = new AbortController();
    api
      .graphHealth(graph, controller.signal)
      .then((h) => {
        setHealth(h);
        setHealthJson(healthKey);
        setHealthError(null);
      })
      .catch((err) => {
        if (!controller.signal.aborted) setHealthError(describeError(err));
      });
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [healthKey]);

  const rulesSource = selectedNode?.config.rules ?? "";
  const rulesKey = useDebounced(rulesSource, VALIDATE_MS);
  useEffect(() => {
    if (rulesKey.trim() === "") {
      setDsl(null);
      setDslError(null);
      return;
    }
    const controller = new AbortController();
    api
      .compileRules(rulesKey, controller.signal)
      .then((result) => {
        setDsl({ source: rulesKey, result });
        setDslError(null);
      })
      .catch((err) => {
        if (!controller.signal.aborted) setDslError(describeError(err));
      });
    return () => controller.abort();
  }, [rulesKey]);

  const statuses = useMemo(() => {
    const out: Record<string, { status: BadgeStatus; findings: number }> = {};
    for (const n of health?.nodes ?? []) {
      out[n.node_id] = { status: statusBadge(n.status) as BadgeStatus, findings: n.result.findings.length };
    }
    if (selectedNode && currentValidation && validation?.key === nodeForCheck?.key) {
      out[selectedNode.id] = {
        status: statusBadge(currentValidation.status) as BadgeStatus,
        findings: currentValidation.findings.length,
      };
    }
    return out;
  }, [health, selectedNode, currentValidation, validation, nodeForCheck]);

  return {
    health,
    healthJson,
    setHealth,
    healthError,
    validation: currentValidation,
    validationError,
    dsl: dslForNode,
    dslError,
    statuses,
  };
}

/** Each node's stats (the badges' quick stats) and the budgets, refreshed now and then while visible. */
export function useTelemetry(graph: SceneGraph | null, graphId: string | null) {
  const [stats, setStats] = useState<Record<string, NodeStats>>({});
  const [budget, setBudget] = useState<BudgetState>({ kind: "unknown" });
  const nodeIds = useMemo(() => (graph?.nodes ?? []).map((n) => n.id).join("\n"), [graph]);
  const refreshStats = useCallback(async (ids: string[]) => {
    const results = await Promise.allSettled(ids.map((id) => api.nodeStats(id)));
    setStats((prev) => {
      const next = { ...prev };
      results.forEach((r) => {
        if (r.status === "fulfilled") next[r.value.node_id] = r.value;
      });
      return next;
    });
  }, []);
  useEffect(() => {
    // A big graph polls only its first nodes; a node's stats are read again after each test of it.
    const ids = (nodeIds ? nodeIds.split("\n") : []).slice(0, STATS_MAX_NODES);
    if (!ids.length) return;
    void refreshStats(ids);
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") void refreshStats(ids);
    }, STATS_EVERY_MS);
    return () => window.clearInterval(timer);
  }, [nodeIds, refreshStats]);

  const refreshBudgets = useCallback(async () => {
    try {
      setBudget({ kind: "ok", report: await api.budgets() });
    } catch (err) {
      if (isMissingRoute(err)) {
        setBudget({
          kind: "unavailable",
          message: "Budgets are not available on this server (GET /api/budgets answered 404).",
        });
      } else {
        setBudget({ kind: "error", message: `Budgets could not be read: ${describeError(err)}` });
      }
    }
  }, []);
  useEffect(() => {
    if (!graphId) return;
    void refreshBudgets();
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") void refreshBudgets();
    }, BUDGET_EVERY_MS);
    return () => window.clearInterval(timer);
  }, [graphId, refreshBudgets]);

  return { stats, refreshStats, budget, refreshBudgets };
}
