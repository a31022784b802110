// Where each scene and Generation Node sits on the canvas. The graph format has no positions, so the
// layout is kept per graph in localStorage; anything without a stored place gets one from a simple
// left-to-right walk from the start scene.
import type { SceneGraph } from "../api/types.gen";

export type XY = { x: number; y: number };
export type Layout = Record<string, XY>;

const COLUMN = 580; // a scene (210 px) and a Generation Node (230 px) side by side, with room for edges
const ROW = 240;
const SCENE_WIDTH = 210;
const GEN_WIDTH = 230;

function storageKey(graphId: string): string {
  return `dyngen.layout.${graphId}`;
}

export function loadLayout(graphId: string): Layout {
  try {
    const raw = localStorage.getItem(storageKey(graphId));
    return raw ? (JSON.parse(raw) as Layout) : {};
  } catch {
    return {};
  }
}

export function saveLayout(graphId: string, layout: Layout): void {
  try {
    localStorage.setItem(storageKey(graphId), JSON.stringify(layout));
  } catch {
    // storage full or off: the layout is a convenience
  }
}

/** The stored layout completed with a place for every scene and node that has none. */
export function completeLayout(graph: SceneGraph, stored: Layout): Layout {
  const layout: Layout = { ...stored };
  const next = new Map<string, string[]>();
  for (const n of graph.nodes ?? []) next.set(n.fromScene, [...(next.get(n.fromScene) ?? []), n.toScene]);
  for (const e of graph.edges ?? []) next.set(e.source, [...(next.get(e.source) ?? []), e.target]);
  const depth = new Map<string, number>();
  const start = graph.start ?? graph.scenes[0]?.id;
  const queue: string[] = start ? [start] : [];
  if (start) depth.set(start, 0);
  while (queue.length) {
    const id = queue.shift() as string;
    for (const to of next.get(id) ?? []) {
      if (!depth.has(to)) {
        depth.set(to, (depth.get(id) ?? 0) + 1);
        queue.push(to);
      }
    }
  }
  let unreached = 0;
  const perColumn = new Map<number, number>();
  for (const scene of graph.scenes) {
    if (layout[scene.id]) continue;
    const d = depth.get(scene.id);
    if (d === undefined) {
      layout[scene.id] = { x: unreached * COLUMN, y: ROW * 2 };
      unreached += 1;
    } else {
      const row = perColumn.get(d) ?? 0;
      perColumn.set(d, row + 1);
      layout[scene.id] = { x: d * COLUMN, y: row * ROW * 1.6 };
    }
  }
  for (const node of graph.nodes ?? []) {
    if (layout[node.id]) continue;
    const a = layout[node.fromScene] ?? { x: 0, y: 0 };
    const b = layout[node.toScene] ?? { x: COLUMN, y: 0 };
    const middle = (Math.min(a.x, b.x) + SCENE_WIDTH + Math.max(a.x, b.x)) / 2;
    const place = { x: Math.round(middle - GEN_WIDTH / 2), y: Math.round((a.y + b.y) / 2 + 130) };
    // Below whatever already sits there (another node between the same scenes, a scene).
    while (Object.values(layout).some((p) => Math.abs(p.x - place.x) < GEN_WIDTH && Math.abs(p.y - place.y) < 105)) {
      place.y += 115;
    }
    layout[node.id] = place;
  }
  return layout;
}
