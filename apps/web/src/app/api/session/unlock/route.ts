import { resolveWebEnv } from "../../../../env";
import { sessionRoutes } from "../routes";

export const dynamic = "force-dynamic";

export async function POST(request: Request): Promise<Response> {
  return sessionRoutes.unlock(await resolveWebEnv(), request);
}
