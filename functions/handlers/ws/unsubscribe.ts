// Placeholder: replaced by the real handler.
export const handler = async (): Promise<never> => {
  throw new Error('not implemented');
};
