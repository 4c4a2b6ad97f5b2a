// Package domain holds ordergate's order model: the Order entity, its value
// objects (ID, ISIN, Price), the rules every order obeys, and the sentinel
// errors the rest of the module wraps. It imports only the standard library,
// so any Go program can embed it.
package domain
