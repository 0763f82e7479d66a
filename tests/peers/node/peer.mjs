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
// The token is used, not just minted: the server's /rtc/validate answers 200 for a token it would accept to join
// ROOM, and 401 for the same claims signed with another secret (so the check can fail).
async function validate(signingSecret) {
  const at = new AccessToken(key, signingSecret, { identity: "node-peer" });
  at.addGrant({ roomJoin: true, room });
  const token = await at.toJwt();
  const res = await fetch(`${url}/rtc/validate?access_token=${encodeURIComponent(token)}`);
  return res.status;
}
const tokenStatus = await validate(secret);
const forgedStatus = await validate(secret.split("").reverse().join(""));
const mode = process.argv[3];
if (mode === "send") {
  await svc.sendData(room, new TextEncoder().encode("hello from node"), DataPacket_Kind.RELIABLE, { topic: "node" });
}
if (mode === "update") {
  await svc.updateParticipant(room, process.argv[4], { attributes: { from: "node" } });
}
console.log(
  JSON.stringify({ rooms: rooms.map((r) => [r.name, r.metadata]), token_status: tokenStatus, forged_status: forgedStatus }),
);
