// The routes of play mode, scene images and editable budgets (kept apart from endpoints.ts so that the
// editor's other features change that file without touching these).
import { request, sendBytes } from "./client";
import type {
  AdvanceRequest,
  AdvanceResponse,
  BudgetLimitEdit,
  GenerateContentResponse,
  ImageList,
  LimitChange,
  LimitHistory,
  NodeContentRequest,
  UploadedImage,
} from "./types.gen";

const enc = encodeURIComponent;

export const extras = {
  /** What the game asks for a stored node (the saved graph's current version). */
  nodeContent: (graphId: string, nodeId: string, body: NodeContentRequest) =>
    request<GenerateContentResponse>(`/api/graphs/${enc(graphId)}/nodes/${enc(nodeId)}/content`, {
      method: "POST",
      body,
    }),
  advance: (graphId: string, body: AdvanceRequest) =>
    request<AdvanceResponse>(`/api/graphs/${enc(graphId)}/advance`, { method: "POST", body }),
  uploadImage: (file: Blob, name: string) =>
    sendBytes<UploadedImage>(`/api/artifacts?name=${enc(name)}`, file, file.type),
  images: () => request<ImageList>("/api/artifacts"),
  setBudgetLimit: (edit: BudgetLimitEdit) => request<LimitChange>("/api/budgets/limits", { method: "PUT", body: edit }),
  budgetLimitHistory: (scope?: string) =>
    request<LimitHistory>(scope ? `/api/budgets/limits/history?scope=${enc(scope)}` : "/api/budgets/limits/history"),
};
