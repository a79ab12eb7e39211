import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';

/** `host:port` as Go's net.SplitHostPort reads it: IPv6 hosts in brackets, an empty host allowed. */
export interface HostPort {
  host: string;
  port: number;
}

export function splitHostPort(address: string): HostPort {
  // Go's net.Listen("tcp", "") binds every interface on a free port.
  if (address === '') return { host: '', port: 0 };
  let host: string;
  let portText: string;
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    if (close < 0) throw new Error(`address ${address}: missing ']' in address`);
    host = address.slice(1, close);
    const rest = address.slice(close + 1);
    if (!rest.startsWith(':')) throw new Error(`address ${address}: missing port in address`);
    portText = rest.slice(1);
  } else {
    const colon = address.lastIndexOf(':');
    if (colon < 0) throw new Error(`address ${address}: missing port in address`);
    host = address.slice(0, colon);
    if (host.includes(':')) throw new Error(`address ${address}: too many colons in address`);
    portText = address.slice(colon + 1);
  }
  // Service names ("http") are not supported; Toxiproxy configs use numbers in practice.
  const port = portText === '' ? 0 : Number(portText);
  if (!/^[0-9]*$/.test(portText) || !Number.isInteger(port) || port > 65535) {
    throw new Error(`address ${address}: invalid port`);
  }
  return { host, port };
}

export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A bound socket's address as Go prints it: `127.0.0.1:41234`, `[::]:8474`. */
export function formatAddress(info: AddressInfo | string | null): string {
  if (info === null || typeof info === 'string') throw new Error(`not a TCP address: ${String(info)}`);
  return joinHostPort(info.address, info.port);
}

/**
 * The host to bind for a listen host. Go's net.Listen binds one address of a host name, preferring
 * IPv4 ("localhost" becomes 127.0.0.1); an empty host means every interface.
 */
export async function resolveHost(host: string): Promise<string | undefined> {
  if (host === '') return undefined;
  if (isIP(host) !== 0) return host;
  const { address } = await lookup(host, { verbatim: false });
  return address;
}

/**
 * A listen address normalised like Go's net.ResolveTCPAddr(...).String(), used to decide whether
 * an update or populate changes a proxy's listen address.
 */
export async function resolveListenAddress(listen: string): Promise<string> {
  const { host, port } = splitHostPort(listen);
  const resolved = await resolveHost(host);
  return resolved === undefined ? `:${port}` : joinHostPort(resolved, port);
}
