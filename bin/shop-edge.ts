#!/usr/bin/env node
/**
 * CDK entry point (cdk.json "app"). Pick the environment with -c env=dev|prod; see
 * docs/deploy.md for every context key.
 */
import { createShopEdgeApp } from '../lib/shop-edge';

createShopEdgeApp();
