// The canvas's own tools, over its top-left corner: add a scene, add a Generation Node (its chooser opens
// under the button).
import type { ReactNode } from "react";
import { Icon } from "./Icon";

export function CanvasTools({
  canAddScene,
  canAddNode,
  onAddScene,
  onAddGenNode,
  chooser,
  play,
}: {
  canAddScene: boolean;
  canAddNode: boolean;
  onAddScene: () => void;
  onAddGenNode: () => void;
  /** The "add a Generation Node" chooser, shown under its button. */
  chooser: ReactNode;
  /** Play mode's button (components/play). */
  play?: ReactNode;
}) {
  return (
    <div className="canvas-tools" data-testid="canvas-tools">
      <button type="button" data-testid="add-scene" onClick={onAddScene} disabled={!canAddScene} title="Add a scene">
        <Icon name="scene" /> Scene
      </button>
      <div className="popover-anchor">
        <button
          type="button"
          data-testid="add-gen-node"
          onClick={onAddGenNode}
          disabled={!canAddNode}
          title="Add a Generation Node between the two selected scenes"
        >
          <Icon name="dice" /> Generation Node
        </button>
        {chooser}
      </div>
      {play}
    </div>
  );
}
