// The editor: top bar, canvas, side panel; the document with its undo history, drafts and saving.
import { ReactFlowProvider } from "@xyflow/react";
import { useCallback, useEffect, useMemo, useState } from "react";
import { ApiError, apiKey, describeError, onUnauthorized, setApiKey } from "./api/client";
import { api, type ServiceHealth } from "./api/endpoints";
import type { GenerationNodeConfig, GraphSummary, Scene, SceneGraph, TemplateListing } from "./api/types.gen";
import { BudgetPage } from "./components/BudgetPage";
import { AddNodeChooser, ApiKeyDialog, NewGraphDialog } from "./components/Dialogs";
import { FindingsList } from "./components/Findings";
import { GraphCanvas, edgeKey } from "./components/GraphCanvas";
import { HealthPanel } from "./components/HealthPanel";
import { SceneEditor } from "./components/SceneEditor";
import { SidePanel, statusBadge, type TabId } from "./components/SidePanel";
import { TestPanel } from "./components/TestPanel";
import { WarmupPanel } from "./components/WarmupPanel";
import { dropDraft, loadDraft, storeDraft, type Draft } from "./state/drafts";
import {
  addGenerationNode,
  addScene,
  deleteEdge,
  deleteGenerationNode,
  deleteScene,
  duplicateNode,
  nodeOf,
  sceneOf,
  updateConfig,
  updateScene,
} from "./state/graphOps";
import { detailsAsFindings, useServerChecks, useTelemetry } from "./state/checks";
import { useHistory } from "./state/history";
import { completeLayout, loadLayout, saveLayout, type Layout, type XY } from "./state/layout";

const SERVICE_EVERY_MS = 30_000;

type SaveState =
  | { kind: "conflict"; serverVersion: number; author: string | null }
  | { kind: "idle" }
  | { kind: "saving" }
  | { kind: "refused"; error: ApiError }
  | { kind: "failed"; message: string };

function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
}

export function App() {
  return (
    <ReactFlowProvider>
      <Editor />
    </ReactFlowProvider>
  );
}

function Editor() {
  const [graphs, setGraphs] = useState<GraphSummary[] | null>(null);
  const [graphId, setGraphId] = useState<string | null>(null);
  const history = useHistory<SceneGraph | null>(null);
  const graph = history.doc;
  const [savedJson, setSavedJson] = useState<string | null>(null);
  // The server version the document was loaded or last saved as: a save over a newer one asks first.
  const [baseVersion, setBaseVersion] = useState<number | null>(null);
  const [save, setSave] = useState<SaveState>({ kind: "idle" });
  const [loadError, setLoadError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [layout, setLayout] = useState<Layout>({});
  const [selection, setSelection] = useState<string[]>([]);
  const [selectedEdge, setSelectedEdge] = useState<string | null>(null);
  const [focusRequest, setFocusRequest] = useState<{ id: string; at: number } | null>(null);
  const [tab, setTab] = useState<TabId>("purpose");
  const [templates, setTemplates] = useState<TemplateListing | null>(null);
  const [templateBusy, setTemplateBusy] = useState(false);
  const [service, setService] = useState<ServiceHealth | null>(null);
  const [serviceDown, setServiceDown] = useState<string | null>(null);
  const [showHealth, setShowHealth] = useState(false);
  const [showBudgets, setShowBudgets] = useState(false);
  const [askKey, setAskKey] = useState(false);
  const [draftOffer, setDraftOffer] = useState<Draft | null>(null);
  const [chooser, setChooser] = useState<{ from: string; to: string } | null>(null);
  const [toast, setToast] = useState<string | null>(null);
  const [newGraph, setNewGraph] = useState(false);
  const [fitRequest, setFitRequest] = useState(0);
  const [showWarmup, setShowWarmup] = useState(false);

  const graphJson = useMemo(() => (graph ? JSON.stringify(graph) : null), [graph]);
  const dirty = graphJson !== null && savedJson !== null && graphJson !== savedJson;
  const primary = selection[selection.length - 1] ?? null;
  const selectedNode = graph && primary ? (nodeOf(graph, primary) ?? null) : null;
  const selectedScene = graph && primary && !selectedNode ? (sceneOf(graph, primary) ?? null) : null;
  const checks = useServerChecks(graph, graphJson, selectedNode);
  const { health, healthError, statuses, setHealth } = checks;
  const { stats, refreshStats, budget, refreshBudgets } = useTelemetry(graph, graphId);

  // ---- loading -------------------------------------------------------------------------------------
  const openGraph = useCallback(
    async (id: string) => {
      setLoading(true);
      setLoadError(null);
      try {
        const { graph: loaded, version } = await api.getGraph(id);
        const json = JSON.stringify(loaded);
        history.reset(loaded);
        setSavedJson(json);
        setBaseVersion(version);
        setGraphId(id);
        setSave({ kind: "idle" });
        setSelection([]);
        setSelectedEdge(null);
        setLayout(completeLayout(loaded, loadLayout(id)));
        const url = new URL(window.location.href);
        url.searchParams.set("graph", id);
        window.history.replaceState(null, "", url);
        const draft = loadDraft(id);
        setDraftOffer(draft && JSON.stringify(draft.graph) !== json ? draft : null);
      } catch (err) {
        setLoadError(`Graph ${id} could not be opened: ${describeError(err)}`);
      } finally {
        setLoading(false);
      }
    },
    [history],
  );

  const checkService = useCallback(() => {
    api
      .health()
      .then((h) => {
        setService(h);
        setServiceDown(h.status === "ok" ? null : `service ${h.status}`);
      })
      .catch((err) => setServiceDown(describeError(err)));
  }, []);

  useEffect(() => {
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") checkService();
    }, SERVICE_EVERY_MS);
    return () => window.clearInterval(timer);
  }, [checkService]);

  const loadAll = useCallback(async () => {
    setLoadError(null);
    checkService();
    try {
      const list = await api.listGraphs();
      setGraphs(list);
      const wanted = new URL(window.location.href).searchParams.get("graph");
      const id = list.find((g) => g.id === wanted)?.id ?? list[0]?.id ?? null;
      if (wanted && !list.some((g) => g.id === wanted))
        setToast(`No graph "${wanted}": opened ${id ?? "nothing"} instead.`);
      if (id) await openGraph(id);
      else setLoading(false);
    } catch (err) {
      setLoading(false);
      if (!(err instanceof ApiError && err.status === 401))
        setLoadError(`Graphs could not be listed: ${describeError(err)}`);
      return;
    }
    api
      .templates()
      .then(setTemplates)
      .catch(() => setTemplates(null));
  }, [openGraph, checkService]);

  useEffect(() => onUnauthorized(() => setAskKey(true)), []);
  useEffect(() => {
    void loadAll();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // ---- drafts, layout, leaving ---------------------------------------------------------------------
  useEffect(() => {
    if (!graph || savedJson === null) return;
    // The newest edits are what is kept; an older draft still on offer stays in the banner (in memory).
    if (dirty) storeDraft(graph, baseVersion);
    else if (!draftOffer) dropDraft(graph.id);
  }, [graph, dirty, savedJson, draftOffer, baseVersion]);

  useEffect(() => {
    if (graph) setLayout((prev) => completeLayout(graph, prev));
  }, [graph]);

  useEffect(() => {
    if (graphId && Object.keys(layout).length) saveLayout(graphId, layout);
  }, [graphId, layout]);

  useEffect(() => {
    if (!dirty) return;
    const guard = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      e.returnValue = "";
      return "";
    };
    window.addEventListener("beforeunload", guard);
    return () => window.removeEventListener("beforeunload", guard);
  }, [dirty]);

  useEffect(() => {
    if (!toast) return;
    const timer = window.setTimeout(() => setToast(null), 6000);
    return () => window.clearTimeout(timer);
  }, [toast]);

  // ---- edits ---------------------------------------------------------------------------------------
  const select = useCallback((id: string | null) => {
    setSelection(id ? [id] : []);
    setSelectedEdge(null);
    if (id) setFocusRequest({ id, at: Date.now() });
  }, []);

  const onCanvasSelect = useCallback((ids: string[], edge: string | null) => {
    setSelection((prev) => (ids.length === prev.length && ids.every((id, i) => id === prev[i]) ? prev : ids));
    setSelectedEdge(edge);
  }, []);

  const onMove = useCallback((id: string, position: XY) => {
    setLayout((prev) => ({ ...prev, [id]: { x: Math.round(position.x), y: Math.round(position.y) } }));
  }, []);

  const addBetween = useCallback(
    (from: string, to: string) => {
      if (!graph) return;
      const { id } = addGenerationNode(graph, from, to);
      history.apply((g) => (g ? addGenerationNode(g, from, to).graph : g));
      setChooser(null);
      select(id);
      setTab("purpose");
      setToast(`Added Generation Node ${id} between ${from} and ${to}.`);
    },
    [graph, history, select],
  );

  const onAddGenNode = useCallback(() => {
    if (!graph) return;
    const scenes = selection.filter((id) => sceneOf(graph, id));
    if (scenes.length === 2) {
      addBetween(scenes[0] as string, scenes[1] as string);
      return;
    }
    const from = scenes[0] ?? graph.start ?? graph.scenes[0]?.id ?? "";
    const to = graph.scenes.find((s) => s.id !== from)?.id ?? from;
    setChooser({ from, to });
  }, [graph, selection, addBetween]);

  const onAddScene = useCallback(() => {
    if (!graph) return;
    const { id } = addScene(graph);
    // To the right of the rightmost scene, on the top row: where the story goes on.
    const placed = graph.scenes.map((sc) => layout[sc.id]).filter((p): p is XY => p !== undefined);
    const x = placed.length ? Math.max(...placed.map((p) => p.x)) + 580 : 0;
    const y = placed.length ? Math.min(...placed.map((p) => p.y)) : 0;
    setLayout((prev) => ({ ...prev, [id]: { x, y } }));
    history.apply((g) => (g ? addScene(g).graph : g));
    select(id);
  }, [graph, history, select, layout]);

  const changeConfig = useCallback(
    (update: (config: GenerationNodeConfig) => GenerationNodeConfig, field: string) => {
      if (!selectedNode) return;
      const id = selectedNode.id;
      history.apply((g) => (g ? updateConfig(g, id, update) : g), `config:${id}:${field}`);
    },
    [history, selectedNode],
  );

  const changeScene = useCallback(
    (patch: Partial<Scene>, field: string) => {
      if (!selectedScene) return;
      const id = selectedScene.id;
      history.apply((g) => (g ? updateScene(g, id, patch) : g), `scene:${id}:${field}`);
    },
    [history, selectedScene],
  );

  const applyTemplate = useCallback(
    async (templateId: string) => {
      if (!selectedNode) return;
      const id = selectedNode.id;
      if (!templateId) {
        history.apply((g) => (g ? updateConfig(g, id, (c) => ({ ...c, templateId: null })) : g));
        return;
      }
      setTemplateBusy(true);
      try {
        const template = await api.template(templateId);
        history.apply((g) =>
          g
            ? updateConfig(g, id, (c) => ({
                ...template,
                id: c.id ?? id,
                version: c.version ?? 1,
                enabled: c.enabled ?? true,
                templateId,
              }))
            : g,
        );
        setToast(`Template ${templateId} applied to ${id} (undo with Ctrl+Z).`);
      } catch (err) {
        setToast(`Template ${templateId} not applied: ${describeError(err)}`);
      } finally {
        setTemplateBusy(false);
      }
    },
    [history, selectedNode],
  );

  const onDuplicate = useCallback(() => {
    if (!graph || !selectedNode) return;
    const made = duplicateNode(graph, selectedNode.id);
    if (!made) return;
    const source = selectedNode.id;
    history.apply((g) => (g ? (duplicateNode(g, source)?.graph ?? g) : g));
    const at = layout[source];
    if (at) setLayout((prev) => ({ ...prev, [made.id]: { x: at.x + 40, y: at.y + 130 } }));
    select(made.id);
    setToast(`Duplicated ${source} as ${made.id} (version 1, its own cache key).`);
  }, [graph, selectedNode, history, layout, select]);

  const deleteSelection = useCallback(() => {
    if (!graph) return;
    if (selectedEdge) {
      const edge = (graph.edges ?? []).find((e) => edgeKey(e.source, e.target) === selectedEdge);
      if (edge) {
        history.apply((g) => (g ? deleteEdge(g, edge.source, edge.target) : g));
        setSelectedEdge(null);
        setToast(`Deleted edge ${edge.source} → ${edge.target} (Ctrl+Z to undo).`);
      }
      return;
    }
    if (!selection.length) return;
    const ids = [...selection];
    if (
      ids.some((id) => sceneOf(graph, id)) &&
      graph.scenes.length - ids.filter((id) => sceneOf(graph, id)).length < 1
    ) {
      setToast("A graph keeps at least one scene.");
      return;
    }
    history.apply((g) => {
      let next = g;
      for (const id of ids) {
        if (!next) break;
        next = nodeOf(next, id) ? deleteGenerationNode(next, id) : sceneOf(next, id) ? deleteScene(next, id) : next;
      }
      return next;
    });
    setSelection([]);
    setToast(`Deleted ${ids.join(", ")} (Ctrl+Z to undo).`);
  }, [graph, history, selection, selectedEdge]);

  // ---- saving --------------------------------------------------------------------------------------
  const saveNow = useCallback(
    async (overwrite = false) => {
      if (!graph || save.kind === "saving") return;
      const sent = graph;
      const sentJson = JSON.stringify(sent);
      setSave({ kind: "saving" });
      try {
        if (!overwrite && baseVersion !== null) {
          // Someone saved a newer version since this one was opened: ask rather than overwrite it.
          const current = (await api.listGraphs()).find((g) => g.id === sent.id);
          if (current && current.version > baseVersion) {
            setSave({ kind: "conflict", serverVersion: current.version, author: current.author ?? null });
            return;
          }
        }
        const saved = await api.saveGraph(sent);
        setSavedJson(sentJson);
        setBaseVersion(saved.version);
        dropDraft(sent.id);
        setSave({ kind: "idle" });
        setGraphs(
          (prev) =>
            prev?.map((g) =>
              g.id === saved.id ? { ...g, version: saved.version, title: sent.title ?? g.title } : g,
            ) ?? prev,
        );
        setHealth(saved.health);
        setToast(`Saved ${saved.id} as version ${saved.version}.`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 422) setSave({ kind: "refused", error: err });
        else setSave({ kind: "failed", message: describeError(err) });
      }
    },
    [graph, save.kind, baseVersion, setHealth],
  );

  const switchGraph = useCallback(
    (id: string) => {
      if (id === graphId) return;
      if (dirty && graph) {
        storeDraft(graph, baseVersion);
        setToast(
          `Your unsaved changes to ${graph.id} are kept as a draft; it is offered when you open that graph again.`,
        );
      }
      void openGraph(id);
    },
    [dirty, graph, graphId, openGraph, baseVersion],
  );

  const createGraph = useCallback(
    async (id: string, title: string): Promise<string | null> => {
      const fresh: SceneGraph = { id, title, start: "scene_1", scenes: [{ id: "scene_1", title: "First scene" }] };
      try {
        await api.createGraph(fresh);
      } catch (err) {
        return describeError(err);
      }
      if (dirty && graph) storeDraft(graph, baseVersion);
      setGraphs(await api.listGraphs().catch(() => graphs));
      setNewGraph(false);
      await openGraph(id);
      setToast(`Created ${id}.`);
      return null;
    },
    [dirty, graph, baseVersion, graphs, openGraph],
  );

  // ---- keyboard ------------------------------------------------------------------------------------
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      const key = e.key.toLowerCase();
      if (mod && key === "s") {
        e.preventDefault();
        void saveNow();
      } else if (mod && key === "z" && !e.shiftKey) {
        e.preventDefault();
        history.undo();
      } else if (mod && ((key === "z" && e.shiftKey) || key === "y")) {
        e.preventDefault();
        history.redo();
      } else if (mod && key === "d" && !isTyping(e.target)) {
        e.preventDefault();
        onDuplicate();
      } else if ((e.key === "Delete" || e.key === "Backspace") && !isTyping(e.target) && !mod) {
        e.preventDefault();
        deleteSelection();
      } else if (e.key === "Escape" && !askKey) {
        if (newGraph) setNewGraph(false);
        else if (chooser) setChooser(null);
        else if (showWarmup) setShowWarmup(false);
        else if (showBudgets) setShowBudgets(false);
        else if (!isTyping(e.target)) setSelection([]);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [saveNow, history, deleteSelection, onDuplicate, chooser, showBudgets, showWarmup, newGraph, askKey]);

  // ---- render --------------------------------------------------------------------------------------
  const saveText =
    save.kind === "saving" ? "Saving…" : save.kind === "refused" ? "Save refused" : dirty ? "Unsaved changes" : "Saved";
  const saveClass = save.kind === "refused" || save.kind === "failed" ? "is-error" : dirty ? "is-dirty" : "is-clean";

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <span aria-hidden>🎲</span> dyngen <span className="muted">editor</span>
        </div>
        <select
          data-testid="graph-select"
          className="graph-select"
          value={graphId ?? ""}
          onChange={(e) => switchGraph(e.target.value)}
          disabled={!graphs?.length}
          title="Stored graphs"
        >
          {!graphs?.length ? <option value="">(no graphs)</option> : null}
          {graphs?.map((g) => (
            <option key={g.id} value={g.id}>
              {g.title ? `${g.title} (${g.id})` : g.id} · v{g.version}
            </option>
          ))}
        </select>
        <button
          type="button"
          className="icon-button new-graph"
          data-testid="new-graph"
          title="New graph"
          onClick={() => setNewGraph(true)}
        >
          +
        </button>
        <span className={`save-status ${saveClass}`} data-testid="save-status" aria-live="polite">
          {saveText}
        </span>
        <div className="toolbar">
          <button
            type="button"
            data-testid="undo"
            onClick={history.undo}
            disabled={!history.canUndo}
            title="Undo (Ctrl+Z)"
          >
            ↶ Undo
          </button>
          <button
            type="button"
            data-testid="redo"
            onClick={history.redo}
            disabled={!history.canRedo}
            title="Redo (Ctrl+Shift+Z / Ctrl+Y)"
          >
            ↷ Redo
          </button>
          <button
            type="button"
            className="primary"
            data-testid="save"
            onClick={() => void saveNow()}
            disabled={!graph || save.kind === "saving"}
            title="Save a new version (Ctrl+S)"
          >
            Save
          </button>
        </div>
        <div className="toolbar">
          <button type="button" data-testid="add-scene" onClick={onAddScene} disabled={!graph} title="Add a scene">
            + Scene
          </button>
          <div className="popover-anchor">
            <button
              type="button"
              data-testid="add-gen-node"
              onClick={onAddGenNode}
              disabled={!graph || graph.scenes.length < 2}
              title="Add a Generation Node between the two selected scenes"
            >
              + 🎲 Generation Node
            </button>
            {chooser && graph ? (
              <AddNodeChooser
                scenes={graph.scenes.map((s) => ({ id: s.id, title: s.title ?? "" }))}
                initialFrom={chooser.from}
                initialTo={chooser.to}
                onAdd={addBetween}
                onCancel={() => setChooser(null)}
              />
            ) : null}
          </div>
        </div>
        <span className="spacer" />
        <div className="toolbar">
          <div className="popover-anchor">
            <button
              type="button"
              data-testid="warm-graph"
              className={showWarmup ? "is-on" : ""}
              onClick={() => setShowWarmup((v) => !v)}
              disabled={!graph}
              title="Generate every transition of the saved graph ahead of play"
            >
              Warm cache
            </button>
            {showWarmup && graph ? (
              <WarmupPanel
                graphId={graph.id}
                unsaved={dirty}
                onClose={() => setShowWarmup(false)}
                onDone={() => {
                  void refreshStats((graph.nodes ?? []).map((n) => n.id));
                  void refreshBudgets();
                }}
              />
            ) : null}
          </div>
          <button
            type="button"
            data-testid="toggle-health"
            className={showHealth ? "is-on" : ""}
            onClick={() => setShowHealth((v) => !v)}
            aria-pressed={showHealth}
          >
            Health
            {health ? <span className={`dot dot-${statusBadge(health.status)}`} aria-label={health.status} /> : null}
            {health?.warnings.length ? <span className="count">{health.warnings.length}</span> : null}
          </button>
          <button
            type="button"
            data-testid="open-budgets"
            className={showBudgets ? "is-on" : ""}
            onClick={() => {
              setShowBudgets((v) => !v);
              void refreshBudgets();
            }}
            aria-pressed={showBudgets}
          >
            Budgets
          </button>
          <span
            className={`service ${serviceDown ? "is-down" : "is-up"}`}
            title={serviceDown ?? `service ${service?.status ?? "…"}`}
          >
            ● {serviceDown ? "server: " + serviceDown : "server ok"}
          </span>
        </div>
      </header>

      {save.kind === "refused" ? (
        <div className="banner banner-error" data-testid="save-error" role="alert">
          <div className="banner__head">
            <strong>Save refused:</strong> {save.error.message}
            <span className="spacer" />
            <button type="button" className="icon-button" onClick={() => setSave({ kind: "idle" })} title="Dismiss">
              ✕
            </button>
          </div>
          <FindingsList
            findings={detailsAsFindings(save.error)}
            testId="save-error-findings"
            onPick={(f) => {
              const hit = (graph?.nodes ?? []).find((n) => f.field.startsWith(`nodes.${n.id}.`));
              if (hit) select(hit.id);
            }}
          />
        </div>
      ) : null}
      {save.kind === "failed" ? (
        <div className="banner banner-error" data-testid="save-error" role="alert">
          <div className="banner__head">
            <strong>Not saved:</strong> {save.message}. Your changes are kept in this browser as a draft.
            <span className="spacer" />
            <button type="button" className="icon-button" onClick={() => setSave({ kind: "idle" })}>
              ✕
            </button>
          </div>
        </div>
      ) : null}
      {save.kind === "conflict" && graph ? (
        <div className="banner banner-warning banner-row" data-testid="save-conflict" role="alert">
          <span>
            <strong>Not saved yet:</strong> version {save.serverVersion} of {graph.id} was saved
            {save.author ? ` by ${save.author}` : ""} after you opened version {baseVersion}.
          </span>
          <span className="spacer" />
          <button type="button" className="primary" data-testid="save-overwrite" onClick={() => void saveNow(true)}>
            Save mine as version {save.serverVersion + 1}
          </button>
          <button
            type="button"
            data-testid="save-reload"
            onClick={() => {
              storeDraft(graph, baseVersion);
              void openGraph(graph.id);
            }}
            title="Your changes stay in this browser as a draft, offered after the reload"
          >
            Open version {save.serverVersion} (keep mine as a draft)
          </button>
        </div>
      ) : null}
      {draftOffer ? (
        <div className="banner banner-warning" data-testid="draft-banner">
          <span>
            An unsaved draft of <strong>{draftOffer.graph.id}</strong> from{" "}
            {new Date(draftOffer.savedAt).toLocaleString()} is kept in this browser.
            {draftOffer.baseVersion !== null && baseVersion !== null && draftOffer.baseVersion !== baseVersion
              ? ` It was edited from version ${draftOffer.baseVersion}; the server now has version ${baseVersion}.`
              : ""}
          </span>
          <span className="spacer" />
          <button
            type="button"
            className="primary"
            data-testid="draft-restore"
            onClick={() => {
              const restored = draftOffer.graph;
              history.apply(() => restored);
              setDraftOffer(null);
            }}
          >
            Restore draft
          </button>
          <button
            type="button"
            data-testid="draft-discard"
            onClick={() => {
              dropDraft(draftOffer.graph.id);
              setDraftOffer(null);
            }}
          >
            Discard
          </button>
        </div>
      ) : null}
      {loadError ? (
        <div className="banner banner-error banner-row" role="alert">
          {loadError}
          <span className="spacer" />
          <button type="button" onClick={() => void loadAll()}>
            Retry
          </button>
          <button type="button" onClick={() => setAskKey(true)}>
            Enter API key
          </button>
        </div>
      ) : null}

      <main className={`workspace${selectedNode || selectedScene ? " has-panel" : ""}`}>
        <div className="stage">
          {graph ? (
            <GraphCanvas
              graph={graph}
              layout={layout}
              statuses={statuses}
              stats={stats}
              selection={selection}
              selectedEdge={selectedEdge}
              focusRequest={focusRequest}
              panelOpen={!!(selectedNode || selectedScene)}
              fitRequest={fitRequest}
              onTidy={() => {
                if (!graph) return;
                setLayout(completeLayout(graph, {}));
                setFitRequest((n) => n + 1);
              }}
              onSelect={onCanvasSelect}
              onMove={onMove}
              onConnectScenes={addBetween}
            />
          ) : (
            <div className="empty-state">
              {loading
                ? "Loading…"
                : graphs && graphs.length === 0
                  ? "No graphs are stored yet: POST one to /api/graphs or start `dyngen serve` with DYNGEN_EXAMPLE_GRAPH."
                  : null}
            </div>
          )}
          {graph && !selectedNode && !selectedScene && (graph.nodes ?? []).length === 0 ? (
            <div className="hint">Drag from a scene's right handle onto another scene to add a 🎲 Generation Node.</div>
          ) : null}
          {showHealth ? (
            <HealthPanel
              health={health}
              error={healthError}
              live={dirty}
              selected={selectedNode?.id ?? null}
              onSelect={(id) => {
                select(id);
                setShowBudgets(false);
              }}
              onClose={() => setShowHealth(false)}
            />
          ) : null}
          {showBudgets ? (
            <BudgetPage
              state={budget}
              onRefresh={() => void refreshBudgets()}
              onClose={() => setShowBudgets(false)}
              onSelectNode={(id) => {
                if (graph && nodeOf(graph, id)) {
                  setShowBudgets(false);
                  select(id);
                  setTab("test");
                }
              }}
            />
          ) : null}
        </div>
        {graph && selectedNode ? (
          <SidePanel
            key={selectedNode.id}
            node={selectedNode}
            tab={tab}
            onTab={setTab}
            validation={checks.validation}
            validationError={checks.validationError}
            dsl={checks.dsl}
            dslError={checks.dslError}
            templates={templates}
            templateBusy={templateBusy}
            onChange={changeConfig}
            onTemplate={(id) => void applyTemplate(id)}
            onClose={() => setSelection([])}
            testPanel={
              <TestPanel
                graph={graph}
                node={selectedNode}
                service={service}
                budget={budget}
                onGenerated={() => {
                  void refreshStats([selectedNode.id]);
                  void refreshBudgets();
                }}
                onInvalidated={() => void refreshStats([selectedNode.id])}
                onDuplicate={onDuplicate}
                onBumpVersion={() => {
                  const id = selectedNode.id;
                  history.apply((g) => (g ? updateConfig(g, id, (c) => ({ ...c, version: (c.version ?? 1) + 1 })) : g));
                  setToast(
                    `${id} is now version ${(selectedNode.config.version ?? 1) + 1}: new cache keys, so fresh content (save to make it live).`,
                  );
                }}
              />
            }
          />
        ) : null}
        {graph && selectedScene ? (
          <SceneEditor
            key={selectedScene.id}
            scene={selectedScene}
            isStart={(graph.start ?? graph.scenes[0]?.id) === selectedScene.id}
            onChange={changeScene}
            onMakeStart={() => {
              const id = selectedScene.id;
              history.apply((g) => (g ? { ...g, start: id } : g));
            }}
            onClose={() => setSelection([])}
          />
        ) : null}
      </main>

      <footer className="statusbar">
        <span>
          {graph
            ? `${graph.scenes.length} scenes · ${(graph.nodes ?? []).length} Generation Nodes · ${(graph.edges ?? []).length} edges`
            : ""}
        </span>
        <span className="spacer" />
        <span className="muted">
          Drag scene → scene: add 🎲 · Shift-click: multi-select · Del: delete · Ctrl+D: duplicate · Ctrl+Z /
          Ctrl+Shift+Z: undo / redo · Ctrl+S: save
        </span>
      </footer>

      {toast ? (
        <div className="toast" role="status" onClick={() => setToast(null)}>
          {toast}
        </div>
      ) : null}
      {newGraph ? (
        <NewGraphDialog
          taken={(graphs ?? []).map((g) => g.id)}
          onCreate={createGraph}
          onCancel={() => setNewGraph(false)}
        />
      ) : null}
      {askKey ? (
        <ApiKeyDialog
          refused={apiKey() !== null}
          onSave={(key) => {
            setApiKey(key);
            setAskKey(false);
            void loadAll();
          }}
          onCancel={() => {
            setAskKey(false);
            setLoadError("This server needs an API key: nothing is loaded without one.");
          }}
        />
      ) : null}
    </div>
  );
}
