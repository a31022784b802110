// The React Flow canvas: scenes and Generation Nodes, laid out from the stored layout. Dragging from one
// scene's right handle to another scene's left handle asks for a Generation Node between them.
import {
  Background,
  ControlButton,
  Controls,
  MarkerType,
  MiniMap,
  ReactFlow,
  applyEdgeChanges,
  applyNodeChanges,
  type Connection,
  type Edge,
  type EdgeChange,
  type FitViewOptions,
  type NodeChange,
  type ReactFlowInstance,
} from "@xyflow/react";
import { useCallback, useEffect, useRef, useState, type MouseEvent as ReactMouseEvent } from "react";
import type { NodeStats, SceneGraph } from "../api/types.gen";
import type { Layout, XY } from "../state/layout";
import { Icon } from "./Icon";
import { nodeTypes, type BadgeStatus, type FlowNode } from "./nodes";

export interface CanvasProps {
  graph: SceneGraph;
  layout: Layout;
  statuses: Record<string, { status: BadgeStatus; findings: number }>;
  stats: Record<string, NodeStats>;
  selection: string[];
  selectedEdge: string | null;
  focusRequest: { id: string; at: number } | null;
  /** The side panel is open over the canvas's right edge. */
  panelOpen: boolean;
  /** Bumped to lay the graph out afresh and fit it in view. */
  fitRequest: number;
  onTidy: () => void;
  onSelect: (ids: string[], edge: string | null) => void;
  onMove: (id: string, position: XY) => void;
  onConnectScenes: (from: string, to: string) => void;
}

function buildNodes(props: CanvasProps, previous: Map<string, FlowNode>): FlowNode[] {
  const { graph, layout, statuses, stats, selection } = props;
  const start = graph.start ?? graph.scenes[0]?.id;
  const selected = new Set(selection);
  const scenes: FlowNode[] = graph.scenes.map((scene) => {
    const before = previous.get(scene.id);
    return {
      ...(before ?? {}),
      id: scene.id,
      type: "scene",
      position: layout[scene.id] ?? before?.position ?? { x: 0, y: 0 },
      selected: selected.has(scene.id),
      data: {
        title: scene.title ?? "",
        mood: scene.mood ?? null,
        location: scene.location ?? null,
        isStart: scene.id === start,
        image: scene.image ?? null,
      },
    };
  });
  const gens: FlowNode[] = (graph.nodes ?? []).map((node) => {
    const before = previous.get(node.id);
    const enabled = node.config.enabled !== false;
    const known = statuses[node.id];
    return {
      ...(before ?? {}),
      id: node.id,
      type: "gen",
      position: layout[node.id] ?? before?.position ?? { x: 0, y: 0 },
      selected: selected.has(node.id),
      data: {
        generationType: node.config.generationType,
        strategy: node.config.strategy ?? "once",
        status: enabled ? (known?.status ?? "unknown") : "disabled",
        findings: known?.findings ?? 0,
        stats: stats[node.id] ?? null,
        templateId: node.config.templateId ?? null,
        enabled,
      },
    };
  });
  return [...scenes, ...gens];
}

export const PANEL_WIDTH = 460;

// Fit the graph into the part of the canvas the side panel (when open) and the tools leave free.
function fitOptions(panelOpen: boolean): FitViewOptions<FlowNode> {
  return {
    padding: { top: "64px", bottom: "40px", left: "40px", right: `${panelOpen ? PANEL_WIDTH + 40 : 40}px` },
    maxZoom: 1.1,
  };
}
const FIT_WAIT_FRAMES = 120; // about two seconds for React Flow to measure the nodes of a newly opened graph

export function edgeKey(source: string, target: string): string {
  return `edge:${source}->${target}`;
}

function buildEdges(graph: SceneGraph, selectedEdge: string | null): Edge[] {
  const arrow = { type: MarkerType.ArrowClosed, width: 18, height: 18 };
  const out: Edge[] = [];
  for (const node of graph.nodes ?? []) {
    const disabled = node.config.enabled === false;
    const className = `gen-edge${disabled ? " is-disabled" : ""}`;
    out.push(
      {
        id: `in:${node.id}`,
        source: node.fromScene,
        target: node.id,
        className,
        deletable: false,
        selectable: false,
        animated: !disabled,
      },
      {
        id: `out:${node.id}`,
        source: node.id,
        target: node.toScene,
        className,
        deletable: false,
        selectable: false,
        animated: !disabled,
        markerEnd: arrow,
      },
    );
  }
  for (const edge of graph.edges ?? []) {
    const id = edgeKey(edge.source, edge.target);
    out.push({
      id,
      source: edge.source,
      target: edge.target,
      className: `plain-edge${edge.meta?.generate ? " is-generating" : ""}`,
      markerEnd: arrow,
      selected: id === selectedEdge,
      label: edge.meta?.generate ? "generated" : undefined,
    });
  }
  return out;
}

export function GraphCanvas(props: CanvasProps) {
  const { graph, onSelect, onMove, onConnectScenes, focusRequest } = props;
  const [nodes, setNodes] = useState<FlowNode[]>(() => buildNodes(props, new Map()));
  const [edges, setEdges] = useState<Edge[]>(() => buildEdges(graph, props.selectedEdge));
  const flow = useRef<ReactFlowInstance<FlowNode, Edge> | null>(null);

  useEffect(() => {
    setNodes((prev) => buildNodes(props, new Map(prev.map((n) => [n.id, n]))));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.graph, props.layout, props.statuses, props.stats, props.selection]);

  useEffect(() => {
    setEdges(buildEdges(graph, props.selectedEdge));
  }, [graph, props.selectedEdge]);

  useEffect(() => {
    if (!props.fitRequest) return;
    // Once React Flow has measured every node of this graph (a graph just opened is not measured yet).
    const wanted = new Set([...graph.scenes.map((s) => s.id), ...(graph.nodes ?? []).map((n) => n.id)]);
    let frame = 0;
    let left = FIT_WAIT_FRAMES;
    const tryFit = () => {
      const shown = flow.current?.getNodes() ?? [];
      const measured =
        shown.length === wanted.size && shown.every((n) => wanted.has(n.id) && n.measured?.width && n.measured.height);
      if (measured || left-- <= 0) void flow.current?.fitView({ ...fitOptions(props.panelOpen), duration: 200 });
      else frame = window.requestAnimationFrame(tryFit);
    };
    frame = window.requestAnimationFrame(tryFit);
    return () => window.cancelAnimationFrame(frame);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- fit on a request only
  }, [props.fitRequest]);

  useEffect(() => {
    if (!focusRequest || !flow.current) return;
    const node = flow.current.getNode(focusRequest.id);
    if (node) {
      const w = node.measured?.width ?? 200;
      const h = node.measured?.height ?? 100;
      const zoom = flow.current.getZoom();
      // Centre the node in the part of the canvas the side panel leaves visible.
      const shift = props.panelOpen ? PANEL_WIDTH / 2 / zoom : 0;
      void flow.current.setCenter(node.position.x + w / 2 + shift, node.position.y + h / 2, { duration: 300, zoom });
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps -- centre on a focus request only, not when the panel opens
  }, [focusRequest]);

  // Selection is the editor's state (App), not React Flow's: its own select changes are dropped, and a
  // click (Shift/Ctrl/Cmd adds to the selection) decides what is selected.
  const onNodesChange = useCallback((changes: NodeChange<FlowNode>[]) => {
    const kept = changes.filter((c) => c.type !== "select");
    if (kept.length) setNodes((prev) => applyNodeChanges(kept, prev));
  }, []);

  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    const kept = changes.filter((c) => c.type !== "select");
    if (kept.length) setEdges((prev) => applyEdgeChanges(kept, prev));
  }, []);

  const onNodeClick = useCallback(
    (event: ReactMouseEvent, node: FlowNode) => {
      const adding = event.shiftKey || event.ctrlKey || event.metaKey;
      if (!adding) onSelect([node.id], null);
      else if (props.selection.includes(node.id))
        onSelect(
          props.selection.filter((id) => id !== node.id),
          null,
        );
      else onSelect([...props.selection, node.id], null);
    },
    [onSelect, props.selection],
  );

  const onNodeDragStart = useCallback(
    (_: unknown, node: FlowNode) => {
      if (!props.selection.includes(node.id)) onSelect([node.id], null);
    },
    [onSelect, props.selection],
  );

  const onEdgeClick = useCallback(
    (_: ReactMouseEvent, edge: Edge) => {
      if (edge.id.startsWith("edge:")) onSelect([], edge.id);
    },
    [onSelect],
  );

  const onPaneClick = useCallback(() => onSelect([], null), [onSelect]);

  const onNodeDragStop = useCallback(
    (_: unknown, node: FlowNode, dragged: FlowNode[]) => {
      for (const n of dragged.length ? dragged : [node]) onMove(n.id, n.position);
    },
    [onMove],
  );

  const isScene = useCallback(
    (id: string | null | undefined) => !!id && graph.scenes.some((s) => s.id === id),
    [graph],
  );

  const isValidConnection = useCallback(
    (c: Connection | Edge) => c.source !== c.target && isScene(c.source) && isScene(c.target),
    [isScene],
  );

  const onConnect = useCallback(
    (c: Connection) => {
      if (c.source && c.target && isValidConnection(c)) onConnectScenes(c.source, c.target);
    },
    [isValidConnection, onConnectScenes],
  );

  return (
    <div className="canvas" data-testid="canvas">
      <ReactFlow<FlowNode, Edge>
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onNodeClick={onNodeClick}
        onNodeDragStart={onNodeDragStart}
        onEdgeClick={onEdgeClick}
        onPaneClick={onPaneClick}
        onNodeDragStop={onNodeDragStop}
        onConnect={onConnect}
        isValidConnection={isValidConnection}
        onInit={(instance) => {
          flow.current = instance;
        }}
        deleteKeyCode={null}
        multiSelectionKeyCode={null}
        selectionKeyCode={null}
        fitView
        fitViewOptions={fitOptions(props.panelOpen)}
        minZoom={0.2}
        maxZoom={2}
        proOptions={{ hideAttribution: true }}
      >
        <Background gap={24} size={1} />
        <MiniMap
          pannable
          zoomable
          nodeStrokeWidth={3}
          nodeColor={(n) => (n.type === "gen" ? "#8b5cf6" : "#334155")}
          style={{ right: props.panelOpen ? PANEL_WIDTH + 10 : 10 }}
        />
        <Controls showInteractive={false}>
          <ControlButton
            onClick={props.onTidy}
            title="Tidy the layout (scenes left to right from the start)"
            aria-label="Tidy layout"
          >
            <Icon name="tidy" />
          </ControlButton>
        </Controls>
      </ReactFlow>
    </div>
  );
}
