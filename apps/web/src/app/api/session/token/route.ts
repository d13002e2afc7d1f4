import { getWebEnv } from "../../../../env";
import { sessionRoutes } from "../routes";

export const dynamic = "force-dynamic";

export function POST(request: Request): Response {
  return sessionRoutes.token(getWebEnv(), request);
}
