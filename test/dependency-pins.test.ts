// The versions package.json pins through `overrides` (docs/development.md) still do their
// dependents' work: cookie 1 under Fastify's light-my-request (inject), and the Swagger UI, served
// by @fastify/static (content-disposition 2), answers at /docs. Both pins exist because the later
// versions require Node 22 and we run Node 20.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';

describe('pinned transitive dependencies', () => {
  it('fastify inject sends the cookies it is given (light-my-request → cookie)', async () => {
    const app = Fastify();
    app.get('/echo', async (request) => ({ cookie: request.headers.cookie }));
    const response = await app.inject({ method: 'GET', url: '/echo', cookies: { session: 'a b', lab: 'hk-uni-genomics' } });
    expect(response.json()).toEqual({ cookie: 'session=a%20b; lab=hk-uni-genomics' });
    await app.close();
  });

  it('serves the Swagger UI and its static files at /docs (@fastify/static → content-disposition)', async () => {
    const app = Fastify();
    await app.register(swagger, { openapi: { info: { title: 't', version: '1' } } });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    app.get('/ping', async () => 'pong');
    await app.ready();
    const page = await app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const bundle = await app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
    expect(bundle.statusCode).toBe(200);
    expect(bundle.headers['content-type']).toMatch(/javascript/);
    expect(bundle.body).toMatch(/SwaggerUIBundle/);
    const openapi = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(openapi.json()).toMatchObject({ paths: { '/ping': {} } });
    await app.close();
  });
});
