import { BundleError } from "../engine/bundle";
import { isNetworkFailure, ModelDownloadError } from "./download-errors";
import { ManifestError } from "./manifest";

export type ModelFailureCategory = "hub-unreachable" | "model-files" | "failed";

// Fixed sentences for an operator reading /readyz: never a path, URL or raw error text (those go to the log).
const ADVICE: Record<ModelFailureCategory, string> = {
  "hub-unreachable":
    "The model hub could not be reached; check network access or set TTS_MODEL_DIR to a downloaded bundle. Retrying.",
  "model-files":
    "Model files are missing or corrupt; run `tts models verify`, or delete the cache to download them again.",
  failed: "The model failed to load; the node's log has the error.",
};

// What onnxruntime says about a graph it cannot read: "Load model from <file> failed:Protobuf parsing failed."
const ORT_LOAD_FAILURE = /load model from .* failed|failed to load model|protobuf/i;

/** Why the model could not be made ready, for /readyz: the hub (transient), the files (fixable), or else. */
export function classifyModelFailure(error: unknown): {
  category: ModelFailureCategory;
  advice: string;
} {
  const category = categorize(error);
  return { category, advice: ADVICE[category] };
}

function categorize(error: unknown, depth = 0): ModelFailureCategory {
  if (error instanceof ModelDownloadError) {
    switch (error.code) {
      case "unreachable":
      case "network":
        return "hub-unreachable";
      case "http":
        return error.status !== undefined && (error.status >= 500 || error.status === 429)
          ? "hub-unreachable"
          : "failed";
      default: // unauthorized, not-found, size- and hash-mismatch
        return "model-files";
    }
  }
  if (error instanceof BundleError || error instanceof ManifestError) return "model-files";
  if (isNetworkFailure(error)) return "hub-unreachable";
  if (error instanceof Error) {
    if (ORT_LOAD_FAILURE.test(error.message)) return "model-files";
    // Wrapped errors: the cause decides (a few levels, in case of a cycle).
    if (error.cause !== undefined && depth < 5) return categorize(error.cause, depth + 1);
  }
  return "failed";
}
