// Uses only LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET: proves what `lk-notebook server` printed
// works for an independent client. Usage: node peer.mjs ROOM -> creates ROOM with metadata, lists rooms,
// sends server data, prints a JSON summary (never the secret or a token).
import { RoomServiceClient, AccessToken, DataPacket_Kind } from "livekit-server-sdk";

const url = process.env.LIVEKIT_URL.replace(/^ws/, "http");
const key = process.env.LIVEKIT_API_KEY;
const secret = process.env.LIVEKIT_API_SECRET;
const room = process.argv[2];
const svc = new RoomServiceClient(url, key, secret);
await svc.createRoom({ name: room, metadata: "made-by-node" });
const rooms = await svc.listRooms([room]);
const token = await new AccessToken(key, secret, { identity: "node-peer" }).toJwt();
const mode = process.argv[3];
if (mode === "send") {
  await svc.sendData(room, new TextEncoder().encode("hello from node"), DataPacket_Kind.RELIABLE, { topic: "node" });
}
if (mode === "update") {
  await svc.updateParticipant(room, process.argv[4], { attributes: { from: "node" } });
}
console.log(JSON.stringify({ rooms: rooms.map((r) => [r.name, r.metadata]), token_ok: token.split(".").length === 3 }));
