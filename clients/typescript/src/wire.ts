// The wire types: generated from dyngen's JSON Schema (wire.gen.ts, the editor's own types), re-exported here.
export type {
  AdvanceRequest,
  AdvanceResponse,
  ArtifactLink,
  ErrorBody,
  FallbackInfo,
  GenerateContentRequest,
  GenerateContentResponse,
  GeneratedContentPayload,
  GenerationStatus,
  NodeContentRequest,
  PlayerContext,
  Scene,
  SocialContext,
} from "./wire.gen.js";

// Two shapes the JSON Schema does not describe (they are not pydantic models on the server):

/** The 202 answer to a request sent with `Prefer: respond-async` (its `Location` is the job's URL). */
export interface JobAccepted {
  job_id: string;
  status: string;
}

/** One Server-Sent Event of a job's stream: its id (for Last-Event-ID), type and JSON data. */
export interface JobEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
}
