

webshopU
(

10.244.1.5
Podshopweb-0"node-1

10.244.2.7web-1
httpê?TCP"http