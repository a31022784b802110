// The editor: top bar, canvas, side panel. The document, its undo history, the selection and the save
// state live in the editor store (state/store.tsx); this component loads, saves and wires the views.
import { ReactFlowProvider } from "@xyflow/react";
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, apiKey, describeError, onUnauthorized, setApiKey } from "./api/client";
import { api } from "./api/endpoints";
import type { GenerationNodeConfig, Scene, SceneGraph, TemplateListing } from "./api/types.gen";
import { BudgetPage } from "./components/BudgetPage";
import { CanvasTools } from "./components/CanvasTools";
import { AddNodeChooser, ApiKeyDialog, NewGraphDialog } from "./components/Dialogs";
import { GraphCanvas, edgeKey } from "./components/GraphCanvas";
import { GraphList } from "./components/GraphList";
import { Icon } from "./components/Icon";
import { HealthPanel } from "./components/HealthPanel";
import { SaveBanners } from "./components/SaveBanners";
import { SceneEditor } from "./components/SceneEditor";
import { SidePanel } from "./components/SidePanel";
import { TestPanel } from "./components/TestPanel";
import { TopBar } from "./components/TopBar";
import { WarmupPanel } from "./components/WarmupPanel";
import { WorldPanel } from "./components/WorldPanel";
import { PlayPanel } from "./components/play/PlayPanel";
import { useServerChecks, useTelemetry } from "./state/checks";
import { dropDraft, loadDraft, storeDraft, type Draft } from "./state/drafts";
import {
  addGenerationNode,
  addScene,
  deleteEdge,
  deleteGenerationNode,
  deleteScene,
  duplicateNode,
  nodeOf,
  renameId,
  renameProblem,
  sceneOf,
  updateConfig,
  updateScene,
} from "./state/graphOps";
import { completeLayout, loadLayout, saveLayout, type Layout, type XY } from "./state/layout";
import { useServiceHealth } from "./state/service";
import { useShortcuts } from "./state/shortcuts";
import type { TabId } from "./state/status";
import { EditorProvider, useEditor } from "./state/store";

export function App() {
  return (
    <ReactFlowProvider>
      <EditorProvider>
        <Editor />
      </EditorProvider>
    </ReactFlowProvider>
  );
}

function Editor() {
  const store = useEditor();
  const { state, dispatch, graph, graphJson, dirty, selectedNode, selectedScene, edit, select, clearSelection } =
    store;
  const { graphs, graphId, baseVersion, save, selection, selectedEdge } = state;
  const [loadError, setLoadError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [layout, setLayout] = useState<Layout>({});
  const [tab, setTab] = useState<TabId>("purpose");
  const [templates, setTemplates] = useState<TemplateListing | null>(null);
  const [templateBusy, setTemplateBusy] = useState(false);
  const [showHealth, setShowHealth] = useState(false);
  const [showBudgets, setShowBudgets] = useState(false);
  const [showWorld, setShowWorld] = useState(false);
  const [askKey, setAskKey] = useState(false);
  const [draftOffer, setDraftOffer] = useState<Draft | null>(null);
  const [chooser, setChooser] = useState<{ from: string; to: string } | null>(null);
  const [toast, setToast] = useState<string | null>(null);
  const [newGraph, setNewGraph] = useState(false);
  const [fitRequest, setFitRequest] = useState(0);
  const [showWarmup, setShowWarmup] = useState(false);
  const [showGraphList, setShowGraphList] = useState(false);
  const [showPlay, setShowPlay] = useState(false);

  const { service, serviceDown, checkService } = useServiceHealth();
  const checks = useServerChecks(graph, graphJson, selectedNode);
  const { health, healthError, healthJson, statuses, setHealth } = checks;
  const { stats, refreshStats, budget, refreshBudgets } = useTelemetry(graph, graphId);

  // ---- loading -------------------------------------------------------------------------------------
  const openGraph = useCallback(
    async (id: string) => {
      setLoading(true);
      setLoadError(null);
      try {
        const { graph: loaded, version } = await api.getGraph(id);
        const json = JSON.stringify(loaded);
        dispatch({ type: "opened", id, graph: loaded, version });
        setLayout(completeLayout(loaded, loadLayout(id)));
        setFitRequest((n) => n + 1); // the whole graph in view on open
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
    [dispatch],
  );

  const loadAll = useCallback(async () => {
    setLoadError(null);
    checkService();
    try {
      const list = await api.listGraphs();
      dispatch({ type: "graphsListed", graphs: list });
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
  }, [openGraph, checkService, dispatch]);

  useEffect(() => onUnauthorized(() => setAskKey(true)), []);
  useEffect(() => {
    void loadAll();
    // eslint-disable-next-line react-hooks/exhaustive-deps -- load once, on mount
  }, []);

  // ---- drafts, layout, leaving ---------------------------------------------------------------------
  useEffect(() => {
    if (!graph || state.savedJson === null) return;
    // The newest edits are what is kept; an older draft still on offer stays in the banner (in memory).
    if (dirty) storeDraft(graph, baseVersion);
    else if (!draftOffer) dropDraft(graph.id);
  }, [graph, dirty, state.savedJson, draftOffer, baseVersion]);

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
  const onCanvasSelect = useCallback(
    (ids: string[], edge: string | null) => dispatch({ type: "canvasSelect", ids, edge }),
    [dispatch],
  );

  const onMove = useCallback((id: string, position: XY) => {
    setLayout((prev) => ({ ...prev, [id]: { x: Math.round(position.x), y: Math.round(position.y) } }));
  }, []);

  const addBetween = useCallback(
    (from: string, to: string) => {
      if (!graph) return;
      const { id, replaced } = addGenerationNode(graph, from, to);
      edit((g) => addGenerationNode(g, from, to).graph);
      setChooser(null);
      select(id);
      setTab("purpose");
      setToast(
        `Added Generation Node ${id} between ${from} and ${to}${replaced ? `; it replaces the direct edge ${from} → ${to}, so it is the path that plays (Ctrl+Z to undo)` : ""}.`,
      );
    },
    [graph, edit, select],
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
    edit((g) => addScene(g).graph);
    select(id);
  }, [graph, edit, select, layout]);

  const changeConfig = useCallback(
    (update: (config: GenerationNodeConfig) => GenerationNodeConfig, field: string) => {
      if (!selectedNode) return;
      const id = selectedNode.id;
      edit((g) => updateConfig(g, id, update), `config:${id}:${field}`);
    },
    [edit, selectedNode],
  );

  const changeScene = useCallback(
    (patch: Partial<Scene>, field: string) => {
      if (!selectedScene) return;
      const id = selectedScene.id;
      edit((g) => updateScene(g, id, patch), `scene:${id}:${field}`);
    },
    [edit, selectedScene],
  );

  const applyTemplate = useCallback(
    async (templateId: string) => {
      if (!selectedNode) return;
      const id = selectedNode.id;
      if (!templateId) {
        edit((g) => updateConfig(g, id, (c) => ({ ...c, templateId: null })));
        return;
      }
      setTemplateBusy(true);
      try {
        const template = await api.template(templateId);
        edit((g) =>
          updateConfig(g, id, (c) => ({
            ...template,
            id: c.id ?? id,
            version: c.version ?? 1,
            enabled: c.enabled ?? true,
            templateId,
          })),
        );
        setToast(`Template ${templateId} applied to ${id} (undo with Ctrl+Z).`);
      } catch (err) {
        setToast(`Template ${templateId} not applied: ${describeError(err)}`);
      } finally {
        setTemplateBusy(false);
      }
    },
    [edit, selectedNode],
  );

  /** Renames the selected scene or node and every reference to it; answers why not (null: renamed). */
  const renameSelected = useCallback(
    (current: string, next: string): string | null => {
      if (!graph) return "No graph is open.";
      if (next === current) return null;
      const problem = renameProblem(graph, current, next);
      if (problem) return problem;
      edit((g) => renameId(g, current, next));
      setLayout((prev) => {
        const { [current]: at, ...rest } = prev;
        return at ? { ...rest, [next]: at } : rest;
      });
      select(next);
      setToast(
        nodeOf(graph, current)
          ? `Renamed ${current} to ${next}: a new node id, so its cache and stats start afresh (Ctrl+Z to undo).`
          : `Renamed scene ${current} to ${next}, and the nodes and edges that name it (Ctrl+Z to undo).`,
      );
      return null;
    },
    [graph, edit, select],
  );

  const onDuplicate = useCallback(() => {
    if (!graph || !selectedNode) return;
    const made = duplicateNode(graph, selectedNode.id);
    if (!made) return;
    const source = selectedNode.id;
    edit((g) => duplicateNode(g, source)?.graph ?? g);
    const at = layout[source];
    if (at) setLayout((prev) => ({ ...prev, [made.id]: { x: at.x + 40, y: at.y + 130 } }));
    select(made.id);
    setToast(`Duplicated ${source} as ${made.id} (version 1, its own cache key).`);
  }, [graph, selectedNode, edit, layout, select]);

  const deleteSelection = useCallback(() => {
    if (!graph) return;
    if (selectedEdge) {
      const edge = (graph.edges ?? []).find((e) => edgeKey(e.source, e.target) === selectedEdge);
      if (edge) {
        edit((g) => deleteEdge(g, edge.source, edge.target));
        dispatch({ type: "clearEdge" });
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
    edit((g) => {
      let next = g;
      for (const id of ids) {
        next = nodeOf(next, id) ? deleteGenerationNode(next, id) : sceneOf(next, id) ? deleteScene(next, id) : next;
      }
      return next;
    });
    clearSelection();
    setToast(`Deleted ${ids.join(", ")} (Ctrl+Z to undo).`);
  }, [graph, edit, dispatch, clearSelection, selection, selectedEdge]);

  // ---- saving --------------------------------------------------------------------------------------
  const saveNow = useCallback(
    async (overwrite = false) => {
      if (!graph || save.kind === "saving") return;
      const sent = graph;
      dispatch({ type: "saveStarted" });
      try {
        if (!overwrite && baseVersion !== null) {
          // Someone saved a newer version since this one was opened: ask rather than overwrite it.
          const current = (await api.listGraphs()).find((g) => g.id === sent.id);
          if (current && current.version > baseVersion) {
            dispatch({ type: "saveConflict", serverVersion: current.version, author: current.author ?? null });
            return;
          }
        }
        const saved = await api.saveGraph(sent);
        dispatch({ type: "saved", graph: sent, version: saved.version });
        dropDraft(sent.id);
        setHealth(saved.health);
        setToast(`Saved ${saved.id} as version ${saved.version}.`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 422) dispatch({ type: "saveRefused", error: err });
        else dispatch({ type: "saveFailed", message: describeError(err) });
      }
    },
    [graph, save.kind, baseVersion, setHealth, dispatch],
  );

  // A refused save's banner goes once the document changed and the server's check of the new document
  // finds no node with errors: the problem it listed is fixed (the next save says whether it is).
  const refusedJson = useRef<string | null>(null);
  useEffect(() => {
    refusedJson.current = save.kind === "refused" ? (refusedJson.current ?? graphJson) : null;
  }, [save.kind, graphJson]);
  useEffect(() => {
    if (save.kind !== "refused" || !health || healthJson !== graphJson || graphJson === refusedJson.current) return;
    if (health.nodes.every((n) => n.status !== "errors")) dispatch({ type: "saveDismissed" });
  }, [save.kind, health, healthJson, graphJson, dispatch]);

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
      const listed = await api.listGraphs().catch(() => graphs);
      if (listed) dispatch({ type: "graphsListed", graphs: listed });
      setNewGraph(false);
      await openGraph(id);
      setToast(`Created ${id}.`);
      return null;
    },
    [dirty, graph, baseVersion, graphs, openGraph, dispatch],
  );

  // ---- keyboard ------------------------------------------------------------------------------------
  const onEscape = useCallback(
    (typing: boolean) => {
      if (askKey) return;
      if (newGraph) setNewGraph(false);
      else if (showGraphList) setShowGraphList(false);
      else if (chooser) setChooser(null);
      else if (showWarmup) setShowWarmup(false);
      else if (showPlay) setShowPlay(false);
      else if (showBudgets) setShowBudgets(false);
      else if (!typing) clearSelection();
    },
    [askKey, newGraph, showGraphList, chooser, showWarmup, showPlay, showBudgets, clearSelection],
  );
  const onSaveKey = useCallback(() => void saveNow(), [saveNow]);
  useShortcuts({
    save: onSaveKey,
    undo: store.undo,
    redo: store.redo,
    duplicate: onDuplicate,
    deleteSelection,
    escape: onEscape,
  });

  // ---- render --------------------------------------------------------------------------------------
  return (
    <div className="app">
      <TopBar
        onSwitchGraph={switchGraph}
        onSave={() => void saveNow()}
        showGraphList={showGraphList}
        onToggleGraphList={() => setShowGraphList((v) => !v)}
        graphList={
          showGraphList ? (
            <GraphList
              graphs={graphs ?? []}
              current={graph}
              dirty={dirty}
              onOpen={(id) => {
                setShowGraphList(false);
                switchGraph(id);
              }}
              onNew={() => {
                setShowGraphList(false);
                setNewGraph(true);
              }}
              onImported={(id, version) => {
                setShowGraphList(false);
                void api
                  .listGraphs()
                  .then((list) => dispatch({ type: "graphsListed", graphs: list }))
                  .catch(() => undefined);
                if (dirty && graph) storeDraft(graph, baseVersion);
                void openGraph(id);
                setToast(`Imported ${id} (version ${version}).`);
              }}
              onClose={() => setShowGraphList(false)}
            />
          ) : null
        }
        showWarmup={showWarmup}
        onToggleWarmup={() => setShowWarmup((v) => !v)}
        warmup={
          showWarmup && graph ? (
            <WarmupPanel
              graphId={graph.id}
              unsaved={dirty}
              onClose={() => setShowWarmup(false)}
              onDone={() => {
                void refreshStats((graph.nodes ?? []).map((n) => n.id));
                void refreshBudgets();
              }}
            />
          ) : null
        }
        health={health}
        showHealth={showHealth}
        onToggleHealth={() => setShowHealth((v) => !v)}
        showWorld={showWorld && !selectedNode && !selectedScene}
        onToggleWorld={() => {
          const open = !(showWorld && !selectedNode && !selectedScene);
          setShowWorld(open);
          if (open) clearSelection();
        }}
        showBudgets={showBudgets}
        onToggleBudgets={() => {
          setShowBudgets((v) => !v);
          void refreshBudgets();
        }}
        serviceStatus={service?.status ?? null}
        serviceDown={serviceDown}
      />

      <SaveBanners
        draftOffer={draftOffer}
        onDraftDone={() => setDraftOffer(null)}
        onOverwrite={() => void saveNow(true)}
        onReload={(id) => void openGraph(id)}
      />
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

      <main className={`workspace${selectedNode || selectedScene || (showWorld && graph) ? " has-panel" : ""}`}>
        <div className={`stage${showHealth ? " has-drawer" : ""}`}>
          {graph ? (
            <CanvasTools
              play={
                <button
                  type="button"
                  data-testid="open-play"
                  className={showPlay ? "is-on" : ""}
                  aria-pressed={showPlay}
                  disabled={!graph}
                  onClick={() => setShowPlay((v) => !v)}
                  title="Walk the saved graph as a player, from its start scene"
                >
                  <Icon name="play" /> Play
                </button>
              }
              canAddScene={!!graph}
              canAddNode={!!graph && graph.scenes.length >= 2}
              onAddScene={onAddScene}
              onAddGenNode={onAddGenNode}
              chooser={
                chooser && graph ? (
                  <AddNodeChooser
                    scenes={graph.scenes.map((s) => ({ id: s.id, title: s.title ?? "" }))}
                    initialFrom={chooser.from}
                    initialTo={chooser.to}
                    onAdd={addBetween}
                    onCancel={() => setChooser(null)}
                  />
                ) : null
              }
            />
          ) : null}
          {graph ? (
            <GraphCanvas
              graph={graph}
              layout={layout}
              statuses={statuses}
              stats={stats}
              selection={selection}
              selectedEdge={selectedEdge}
              focusRequest={state.focusRequest}
              panelOpen={!!(selectedNode || selectedScene)}
              fitRequest={fitRequest}
              onTidy={() => {
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
            <div className="hint">
              Drag from a scene's right handle onto another scene to add a <Icon name="dice" /> Generation Node.
            </div>
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
          {showPlay && graph ? (
            <PlayPanel graphId={graph.id} unsaved={dirty} onClose={() => setShowPlay(false)} />
          ) : null}
          {showBudgets ? (
            <BudgetPage
              state={budget}
              onRefresh={() => void refreshBudgets()}
              nodeIds={(graph?.nodes ?? []).map((n) => n.id)}
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
            graph={graph}
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
            onClose={clearSelection}
            onRename={(next) => renameSelected(selectedNode.id, next)}
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
                  edit((g) => updateConfig(g, id, (c) => ({ ...c, version: (c.version ?? 1) + 1 })));
                  setToast(
                    `${id} is now version ${(selectedNode.config.version ?? 1) + 1}: new cache keys, so fresh content (save to make it live).`,
                  );
                }}
              />
            }
          />
        ) : null}
        {graph && showWorld && !selectedNode && !selectedScene ? (
          <WorldPanel
            graph={graph}
            findings={health?.findings ?? []}
            onChange={(update, field) => edit(update, `world:${field}`)}
            onClose={() => setShowWorld(false)}
          />
        ) : null}
        {graph && selectedScene ? (
          <SceneEditor
            key={selectedScene.id}
            scene={selectedScene}
            characters={graph.characters ?? []}
            isStart={(graph.start ?? graph.scenes[0]?.id) === selectedScene.id}
            onChange={changeScene}
            onMakeStart={() => {
              const id = selectedScene.id;
              edit((g) => ({ ...g, start: id }));
            }}
            onClose={clearSelection}
            onRename={(next) => renameSelected(selectedScene.id, next)}
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
          Drag scene → scene: add a Generation Node · Shift-click: multi-select · Del: delete · Ctrl+D: duplicate · Ctrl+Z /
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
