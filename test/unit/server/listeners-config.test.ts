import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNodeConfig } from '../../../src/server/config';
import { createCertificateAuthority, issueCertificate, writePemFiles } from '../../../src/security/io/certificates';
import { tmpDir } from '../../helpers/tmp';

const load = (flags: Record<string, string>) => loadNodeConfig({ 'node.id': '1', 'log.dir': '/tmp/x', ...flags }, {});

describe('listeners and security settings', () => {
  it('reads the old host:port form and Kafka named listeners alike', () => {
    const old = load({ listeners: '127.0.0.1:9092', 'internal.listeners': '127.0.0.1:9192' });
    const named = load({ listeners: 'CLIENT://127.0.0.1:9092,INTERNAL://127.0.0.1:9192', 'inter.broker.listener.name': 'INTERNAL' });
    for (const c of [old, named]) {
      expect(c.listen).toEqual({ host: '127.0.0.1', port: 9092 });
      expect(c.internal?.listen).toEqual({ host: '127.0.0.1', port: 9192 });
      expect(c.listenerNames).toEqual({ client: 'CLIENT', internal: 'INTERNAL' });
      expect(c.protocols).toEqual({ client: 'PLAINTEXT', internal: 'PLAINTEXT' });
      expect(c.voters).toEqual([{ id: 1, host: '127.0.0.1', port: 9192 }]);
      expect(c.ssl).toBeNull();
    }
    const adv = load({ listeners: 'CLIENT://0.0.0.0:9092,INTERNAL://0.0.0.0:9192', 'advertised.listeners': 'CLIENT://h1:9092,INTERNAL://10.0.0.1:9192', 'controller.listener.names': 'INTERNAL' });
    expect(adv.advertised).toEqual({ host: 'h1', port: 9092 });
    expect(adv.internal?.advertised).toEqual({ host: '10.0.0.1', port: 9192 });
  });

  it('refuses listener settings that cannot work', () => {
    expect(() => load({ listeners: 'A://:1,B://:2' })).toThrow(/inter.broker.listener.name must say/);
    expect(() => load({ listeners: 'A://:1,B://:2', 'inter.broker.listener.name': 'C' })).toThrow(/no listener named C/);
    expect(() => load({ listeners: 'A://:1,B://:2', 'inter.broker.listener.name': 'A', 'controller.listener.names': 'B' })).toThrow(/must name the inter.broker.listener.name/);
    expect(() => load({ listeners: 'A://:1,B://:2,C://:3', 'inter.broker.listener.name': 'A' })).toThrow(/at most two/);
    expect(() => load({ 'listener.security.protocol.map': 'CLIENT:SASL_SSL' })).toThrow(/passwords come over SSL listeners/);
    expect(() => load({ 'ssl.client.auth': 'required' })).toThrow(/no listener is SSL/);
    expect(() => load({ 'listener.security.protocol.map': 'CLIENT:SSL' })).toThrow(/ssl.certificate.location is required/);
  });

  it('an SSL node: files, client auth per listener, mapping rules and principals checked at load', () => {
    const dir = tmpDir('cairn-listeners-');
    const ca = createCertificateAuthority({ commonName: 'ca' });
    writePemFiles(dir, 'ca', ca);
    const files = writePemFiles(dir, 'node', issueCertificate(ca, { commonName: 'node-1', usage: 'both', ipAddresses: ['127.0.0.1'] }));
    const ssl = {
      listeners: 'CLIENT://127.0.0.1:9092,INTERNAL://127.0.0.1:9192',
      'inter.broker.listener.name': 'INTERNAL',
      'listener.security.protocol.map': 'CLIENT:SSL,INTERNAL:SSL',
      'ssl.certificate.location': files.certFile,
      'ssl.key.location': files.keyFile,
      'ssl.ca.location': path.join(dir, 'ca.crt'),
      'listener-name-client-ssl-client-auth': 'requested',
    };
    const c = load(ssl);
    expect(c.protocols).toEqual({ client: 'SSL', internal: 'SSL' });
    expect(c.ssl?.clientAuth).toEqual({ client: 'requested', internal: 'required' });
    expect(c.ssl?.endpointIdentification).toBe(true);
    expect(load({ ...ssl, 'super.users': 'User:admin; User:ops', 'cluster.principals': 'User:node-1,User:node-2' })).toMatchObject({
      superUsers: ['User:admin', 'User:ops'],
      clusterPrincipals: ['User:node-1', 'User:node-2'],
    });
    expect(() => load({ ...ssl, 'ssl.principal.mapping.rules': 'RULE:oops' })).toThrow(/ssl.principal.mapping.rules/);
    expect(() => load({ ...ssl, 'super.users': 'admin' })).toThrow(/super.users/);
    expect(() => load({ ...ssl, 'authorization.enable': 'yes' })).toThrow(/true or false/);
    expect(fs.existsSync(files.keyFile)).toBe(true);
  });
});
