// The wire types: generated from dyngen's JSON Schema (wire.gen.ts, the editor's own types), re-exported here.
export type {
  ArtifactLink,
  ErrorBody,
  FallbackInfo,
  GenerateContentRequest,
  GenerateContentResponse,
  GeneratedContentPayload,
  GenerationStatus,
  PlayerContext,
  Scene,
  SocialContext,
} from "./wire.gen.js";
import type { GenerateContentResponse, PlayerContext, Scene, SocialContext } from "./wire.gen.js";

// TODO(schema): replace with the generated types once schema_export lists the runtime models.
export interface NodeContentRequest {
  player_context?: PlayerContext | null;
  social_context?: SocialContext | null;
  graph_version?: number | null;
}
export interface AdvanceRequest {
  from_scene: string;
  to_scene?: string | null;
  choice?: number | null;
  player_context?: PlayerContext | null;
  social_context?: SocialContext | null;
  graph_version?: number | null;
}
export interface AdvanceResponse {
  graph_id: string;
  graph_version: number;
  from_scene: string;
  node_id?: string | null;
  content?: GenerateContentResponse | null;
  scene?: Scene | null;
  exits?: string[];
}

/** The 202 answer to a request sent with `Prefer: respond-async` (its `Location` is the job's URL). */
export interface JobAccepted {
  job_id: string;
  status: string;
}

/** One Server-Sent Event of a job's stream. */
export interface JobEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
}
