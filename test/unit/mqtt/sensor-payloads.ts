/** Real-world sensor messages, as Tasmota and Zigbee2MQTT publish them. */

/** Tasmota 13's telemetry (`tele/<device>/SENSOR`) for an AM2301 (DHT21) sensor. */
export const TASMOTA_SENSOR =
  '{"Time":"2024-11-23T15:04:05","AM2301":{"Temperature":21.3,"Humidity":45.1,"DewPoint":9.0},"TempUnit":"C"}';

/** Zigbee2MQTT's message (`zigbee2mqtt/<friendly name>`) for an Aqara temperature/humidity sensor. */
export const ZIGBEE_SENSOR =
  '{"battery":97,"humidity":60,"linkquality":120,"temperature":19.5,"voltage":3005,"update":{"state":"idle"},"contact":true}';
