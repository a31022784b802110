// What every side-panel tab receives: the node's config, its findings and one way to change it.
import type { GenerationNodeConfig, ValidationFinding } from "../../api/types.gen";

/** Changes the config as one undo step; `field` is the coalesce key (typing in one field is one step). */
export type ConfigChange = (update: (config: GenerationNodeConfig) => GenerationNodeConfig, field: string) => void;

export interface TabProps {
  config: GenerationNodeConfig;
  findings: ValidationFinding[];
  onChange: ConfigChange;
}
