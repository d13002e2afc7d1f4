import { getWebEnv } from "../../../../env";
import { sessionRoutes } from "../routes";

export const dynamic = "force-dynamic";

export function POST(request: Request): Promise<Response> {
  return sessionRoutes.unlock(getWebEnv(), request);
}
