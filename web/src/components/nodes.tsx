// The two kinds of node on the canvas: authored scenes, and Generation Nodes (the die icon) between them.
import { Handle, Position, type Node, type NodeProps } from "@xyflow/react";
import { memo } from "react";
import { GenerationTypeLabels, StrategyLabels } from "../api/labels.gen";
import type { GenerationType, NodeStats, Strategy } from "../api/types.gen";
import { Icon } from "./Icon";
import { NodePoster, SceneThumb } from "./media/SceneThumb";

export type BadgeStatus = "ok" | "warning" | "error" | "disabled" | "unknown";

export type SceneNodeData = {
  title: string;
  mood: string | null;
  location: string | null;
  isStart: boolean;
  image?: string | null;
};

export type GenNodeData = {
  generationType: GenerationType;
  strategy: Strategy;
  status: BadgeStatus;
  findings: number;
  stats: NodeStats | null;
  templateId: string | null;
  enabled: boolean;
};

export type SceneFlowNode = Node<SceneNodeData, "scene">;
export type GenFlowNode = Node<GenNodeData, "gen">;
export type FlowNode = SceneFlowNode | GenFlowNode;

const STATUS_LABEL: Record<BadgeStatus, string> = {
  ok: "OK",
  warning: "Warnings",
  error: "Errors",
  disabled: "Disabled",
  unknown: "…",
};

export const SceneNodeView = memo(function SceneNodeView({ id, data, selected }: NodeProps<SceneFlowNode>) {
  return (
    <div className={`scene-node${selected ? " is-selected" : ""}`} data-testid={`scene-node-${id}`}>
      <Handle type="target" position={Position.Left} />
      <div className="scene-node__kicker">
        Scene{data.isStart ? <span className="scene-node__start">start</span> : null}
      </div>
      <div className="scene-node__title">{data.title || id}</div>
      <div className="scene-node__id">{id}</div>
      <SceneThumb name={data.image} />
      <div className="scene-node__meta">
        {data.mood ? <span className="chip">mood: {data.mood}</span> : null}
        {data.location ? <span className="chip">
            <Icon name="pin" /> {data.location}
          </span> : null}
      </div>
      <Handle type="source" position={Position.Right} />
    </div>
  );
});

function formatLatency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

export function formatCost(stats: NodeStats | null): string {
  if (!stats) return "—";
  if (stats.cost > 0) return `$${stats.cost.toFixed(stats.cost < 0.01 ? 4 : 2)}`;
  return `${stats.cost_tokens} tok`;
}

export const GenNodeView = memo(function GenNodeView({ id, data, selected }: NodeProps<GenFlowNode>) {
  const stats = data.stats;
  return (
    <div
      className={`gen-node status-${data.status}${selected ? " is-selected" : ""}${data.enabled ? "" : " is-disabled"}`}
      data-testid={`gen-node-${id}`}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <div className="gen-node__head">
        <span className="gen-node__icon">
          <Icon name="dice" />
        </span>
        <span className="gen-node__id" title={id}>
          {id}
        </span>
        <span
          className={`badge badge-${data.status}`}
          data-testid={`gen-badge-${id}`}
          data-status={data.status === "unknown" ? "ok" : data.status}
          title={`${STATUS_LABEL[data.status]}${data.findings ? ` (${data.findings} findings)` : ""}`}
        >
          {STATUS_LABEL[data.status]}
          {data.findings && data.status !== "disabled" ? ` · ${data.findings}` : ""}
        </span>
      </div>
      <div className="gen-node__sub">
        {GenerationTypeLabels[data.generationType]} · {StrategyLabels[data.strategy]}
        {data.templateId ? (
          <span title={`template ${data.templateId}`}>
            {" · "}
            <Icon name="template" /> {data.templateId}
          </span>
        ) : null}
      </div>
      <NodePoster nodeId={id} />
      <div className="gen-node__stats" data-testid={`gen-stats-${id}`}>
        <span title="last latency">
          <Icon name="clock" /> {formatLatency(stats?.last_latency_ms)}</span>
        <span title="cost estimate">
          <Icon name="coin" /> {formatCost(stats)}
        </span>
        <span title="cache hits / misses">
          <Icon name="bolt" /> {stats ? stats.cache_hits : "—"} hit{stats && stats.cache_hits === 1 ? "" : "s"}
        </span>
      </div>
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
});

export const nodeTypes = { scene: SceneNodeView, gen: GenNodeView };
